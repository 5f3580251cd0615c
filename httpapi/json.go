package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/omohq/omo/errs"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeResult answers v as JSON with 200 OK or, when err is not nil, err as
// writeError does: the tail of a handler that only reads.
func writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// writeError answers err as JSON {"error": message} with the status of its
// kind; internals are not shown for unclassified errors.
func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	msg := errs.Message(err)
	if msg == "" || code == http.StatusInternalServerError {
		msg = http.StatusText(code)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}
