package testenv

// The WeChat apps the tests play: one Official Account and one
// mini-program, registered in the simulator (wechatsim) and configured into
// omo, the webhook codec or the WeChat client. The wechat package's golden
// requests (testdata/requests) and fuzz seeds carry these values.
const (
	OAAppID      = "wxoa00000000000001"
	OASecret     = "oa-secret"
	OAToken      = "hooktoken"                                   // the OA server token pushes are signed with
	OAAESKey     = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG" // the EncodingAESKey of safe mode (43 characters)
	OAOriginalID = "gh_0123456789ab"                             // the OA's gh_ id, a push's ToUserName

	MPAppID  = "wxmp00000000000001"
	MPSecret = "mp-secret"
)
