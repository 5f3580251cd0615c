package wechat

import (
	"context"
	"time"
)

// ShareCodes makes the codes a referral is shared with (httpapi.QRCodes)
// over a Client: a temporary OA QR code and a mini-program code image.
// Errors are the Client's.
type ShareCodes struct{ wx *Client }

// NewShareCodes returns the share codes over wx.
func NewShareCodes(wx *Client) ShareCodes { return ShareCodes{wx: wx} }

// CreateQRCode makes an OA QR code for scene that lives expire (see
// Client.CreateQRCode) and returns its ticket, the URL it encodes and its
// life as WeChat granted it.
func (q ShareCodes) CreateQRCode(ctx context.Context, scene string, expire time.Duration) (ticket, qrURL string, expiresIn time.Duration, err error) {
	c, err := q.wx.CreateQRCode(ctx, scene, expire)
	if err != nil {
		return "", "", 0, err
	}
	return c.Ticket, c.URL, c.ExpiresIn, nil
}

// WxaCode returns the mini-program code image that opens page with scene
// (see Client.WxaCodeUnlimit).
func (q ShareCodes) WxaCode(ctx context.Context, scene, page string) ([]byte, error) {
	return q.wx.WxaCodeUnlimit(ctx, scene, page)
}
