package wechat

import (
	"net/http"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// BaselineHandler is the yardstick of the webhook benchmark: a bare
// silenceper OA server that checks the signature (and in safe mode the
// msg_signature, decrypting the push), parses the XML and answers
// "success", storing nothing. It is what a plain silenceper webhook costs,
// against which omo's dedupe and durable commit are measured. A push it
// cannot check or read gets 403 with silenceper's reason.
//
// The OfficialAccount is built once; silenceper's Server is per request by
// design (it keeps the request, the writer and the parsed message).
func BaselineHandler(token, appID, aesKey string) http.Handler {
	oa := officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID: appID, Token: token, EncodingAESKey: aesKey,
		Cache: cache.NewMemory(), // required by the constructor; the server never uses it
	})
	noReply := func(*message.MixMessage) *message.Reply { return nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &wroteWriter{ResponseWriter: w}
		srv := oa.GetServer(r, rw)
		srv.SetMessageHandler(noReply)
		if err := srv.Serve(); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		// Plaintext mode: Serve answered "success" itself. Safe mode: a nil
		// reply writes nothing, and Send would answer with an encrypted
		// empty message, so acknowledge here as WeChat expects.
		if !rw.wrote {
			w.Write([]byte("success"))
		}
	})
}

// wroteWriter notes whether the handler answered.
type wroteWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *wroteWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *wroteWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
