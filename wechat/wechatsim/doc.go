// Package wechatsim is omo's WeChat simulator: a fake api.weixin.qq.com that
// omo's WeChat client talks to over real HTTP, and a follower driver that
// pushes messages and events to omo's OA webhook exactly as WeChat does.
//
// It serves `omo demo`, `omo sim` and the tests. It does not import
// silenceper/wechat: its signature and AES code is written from WeChat's
// documentation, so a bug in omo's silenceper-based webhook shows up as a
// disagreement instead of being shared.
//
// # The fake API
//
// Sim is an http.Handler answering WeChat's own paths and query strings (a
// client reaches it through a transport that rewrites only scheme and host;
// mp.weixin.qq.com paths land here too). State is kept per appid; the access
// token of a call decides which app it touches. Answers follow WeChat:
// HTTP 200 with {"errcode":N,"errmsg":"... rid: ..."} for errors, images with
// Content-Type image/jpeg exactly.
//
//	GET  /cgi-bin/token                       new token each call, previous one invalid at once
//	POST /cgi-bin/stable_token                current token; force_refresh: new one, old valid 5 more minutes
//	POST /cgi-bin/message/template/send       43004 non-follower; client_msg_id dedupe 10 min; fields cut to 20 chars
//	POST /cgi-bin/message/subscribe/bizsend   one consent per send, else 43101; 47003 for over-long fields
//	POST /cgi-bin/message/custom/send         45015 when not following or the service window is closed
//	POST /cgi-bin/message/mass/send           2-10,000 touser (40130 below 2), text or mpnews; 60 calls a
//	                                          minute (45011); a clientmsgid repeat within 24 h answers 45065
//	                                          with the first msg_id and sends nothing; followers only, at most 4 a
//	                                          month each (SetMassMonthlyCap); then MASSSENDJOBFINISH is pushed
//	POST /cgi-bin/qrcode/create               40052 bad action_name; 40053 bad scene; 45029 permanent cap
//	GET  /cgi-bin/showqrcode?ticket=          JPEG, or 404 for an unknown or expired ticket
//	GET  /cgi-bin/user/info                   40003 for an openid the app never saw
//	GET  /cgi-bin/user/get?next_openid=       10,000 followers a page in openid order, after next_openid;
//	                                          next_openid = the page's last openid, "" past the end; total
//	POST /cgi-bin/user/info/batchget          1 to 100 users (else 40032); 40003 if one was never seen
//	     /cgi-bin/tags/create, tags/get, tags/members/batchtagging,
//	     tags/members/batchuntagging, tags/getidlist
//	GET  /sns/jscode2session                  codes from AddLoginCode: once (then 40163), 5 minutes (then 40029)
//	POST /wxa/getwxacodeunlimit               JPEG; 40169 scene length/not JSON, 40129 scene chars, 41030 page
//	POST /wxa/generate_urllink                https://wxaurl.cn/...
//	any other path                            HTTP 404 {"errcode":40066,"errmsg":"invalid url ..."}
//
// Every call is recorded (Calls, CallCount). Inject, InjectAfter,
// InjectStatus and InjectDelay make the next calls to a path fail; they act
// before the token check. SeedFollowers fills an app with generated
// followers (`omo sim -followers N`). A POST-only path called otherwise answers 43002.
//
// Choices where WeChat's behaviour is not documented: a repeated
// client_msg_id within 10 minutes answers errcode 0 with the first send's
// msgid and records no second send (Call.Dedupe marks it); expire_seconds
// over 30 days is cut to 30 days (the answer shows it), 0 means 60 s; an
// unknown path is 404 + 40066 so clients treat it as a bug, not a retry;
// tickets always contain '+' and '/' (real ones often do) so a client that
// does not URL-encode them for showqrcode fails every time; stable_token in
// normal mode answers the remaining lifetime as expires_in and swaps in a
// new token when under 5 minutes remain; the permanent-QR cap answers 45029.
// Mass sends: the 60-a-minute limit counts calls per calendar minute; in
// MASSSENDJOBFINISH, FilterCount is the named openids who follow, ErrorCount
// those of them over the monthly cap, Status "send fail" when nobody
// received it; the event comes from MassAssistantOpenID.
//
// # The follower driver
//
// Pusher signs (signature, timestamp, nonce, openid) and in safe mode
// encrypts (encrypt_type=aes, msg_signature, <Encrypt>) a message and posts
// it to a webhook, then verifies and decrypts the reply. Message and its
// constructors (Subscribe, Scan, Location, Click, Text, ...) give the XML
// WeChat sends. Sim.Push, Sim.ScanQRCode and Sim.PushJobFinish combine the
// two and keep the fake API's state in step (a pushed subscribe makes a
// follower; an unsubscribe ends it; a message reopens the service window).
//
// # The control API
//
// For `omo sim` driven from curl, JSON under /_sim/:
//
//	GET  /_sim/calls?path=P                every recorded call (to path P, or all)
//	GET  /_sim/state?app_id=A              A's sends, QR codes, mini codes, links, tags, token fetches
//	POST /_sim/apps       {app_id, secret}
//	POST /_sim/followers  {app_id, openid, unionid, subscribe_scene, qr_scene_str}
//	                      add "unfollow":true, "remove":true or "cs_window":false|true instead
//	POST /_sim/followers/seed {app_id, count}  generated followers 0..count-1 (SeedFollowers)
//	POST /_sim/inject     {path, errcode | status | delay_ms, times (default 1, <0 = until cleared)}
//	                      with errcode, "after":N lets N calls through first (InjectAfter);
//	                      or {path, clear:true} ("" path clears all)
//	POST /_sim/webhook    {app_id, url, token, encoding_aes_key, job_finish} (url "" removes it;
//	                      job_finish "success" pushes TEMPLATESENDJOBFINISH after each template send)
//	POST /_sim/push       {app_id, openid, type, ...} -> {status, body, raw}; type is one of
//	                      subscribe{scene}, unsubscribe, scan{scene}, scan_qrcode{ticket},
//	                      location{lat,lng,precision}, click{key}, view{url,menu_id},
//	                      view_miniprogram{pagepath,menu_id}, text{content}, location_msg{lat,lng,scale,label},
//	                      image{pic_url,media_id}, popup{items:[{TemplateId,SubscribeStatusString,PopupScene}]},
//	                      job_finish{msg_id,status}
//	POST /_sim/codes      {app_id, code, openid, unionid}   a wx.login code for jscode2session
//	POST /_sim/consents   {app_id, openid, template_id, count}
//	POST /_sim/expire     {app_id}                          every token of the app answers 42001
//	GET  /_sim/mass?app_id=A                               A's mass sends: recipients, who received
//	                                                        them, the MASSSENDJOBFINISH counts
//
// Bad control requests answer 400 {"error": "..."}; a failed push 502.
package wechatsim
