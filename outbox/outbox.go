// Package outbox describes the sends and calls that an event decides and
// that must happen exactly once after its transaction commits. An Item is
// written in the same database transaction as the event that caused it; a
// relay hands committed items to the queue with the item's ID as the task
// ID, and re-hands any that were not finished, so nothing acknowledged to
// WeChat is lost and a repeat is harmless.
package outbox

import (
	"encoding/json"
	"time"
)

// Kind names what an item does; it is also the queue task type.
type Kind string

// The kinds of outbox item.
const (
	// UserInfo asks WeChat's user/info for a follower's unionid.
	UserInfo Kind = "wechat:user_info"
	// SendTemplate sends a template message (a Message of the same id).
	SendTemplate Kind = "send:template"
	// SendSubscribe sends an OA subscribe notification.
	SendSubscribe Kind = "send:subscribe"
	// SendCustom sends a customer-service message, falling back to a
	// template message when WeChat's service window is closed.
	SendCustom Kind = "send:custom"
	// Tag tags or untags a follower at WeChat.
	Tag Kind = "wechat:tag"
	// ReferralQualify decides a held referral once its hold is over.
	ReferralQualify Kind = "referral:qualify"
	// CampaignBatch sends one batch of a schedule campaign's firing to the
	// recipients its ledger still holds planned.
	CampaignBatch Kind = "campaign:batch"
)

// State is where an item is in its life.
type State string

// The states. An item is pending until a worker finishes it.
const (
	Pending State = "pending"
	Done    State = "done"
	Failed  State = "failed"
)

// Item is one unit of work the outbox guarantees.
type Item struct {
	ID        string    `db:"id"`
	Kind      Kind      `db:"kind"`
	Payload   []byte    `db:"payload"` // JSON
	RunAt     time.Time `db:"run_at"`
	State     State     `db:"state"`
	Attempts  int       `db:"attempts"`
	LastError string    `db:"last_error"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// UserInfoPayload is the payload of a UserInfo item.
type UserInfoPayload struct {
	OpenID string `json:"openid"`
}

// New returns a pending item of kind k with payload p (JSON-encoded), to run
// at runAt. id must be unique: it becomes the queue task ID.
func New(id string, k Kind, p any, runAt, now time.Time) (Item, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Item{}, err
	}
	return Item{ID: id, Kind: k, Payload: b, RunAt: runAt.UTC(), State: Pending, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}, nil
}

// TagPayload is the payload of a Tag item.
type TagPayload struct {
	OpenID string `json:"openid"`
	Tag    string `json:"tag"`
	On     bool   `json:"on"`
}

// QualifyReferral is the payload of a ReferralQualify item.
type QualifyReferral struct {
	ReferralID int64 `json:"referral_id"`
}

// BatchPayload is the payload of a CampaignBatch item.
type BatchPayload struct {
	Slot     int64  `json:"slot"`
	Batch    int    `json:"batch"`
	Campaign string `json:"campaign"`
	Mass     bool   `json:"mass,omitempty"` // the batch is one mass-send chunk (send_mass)
}
