package referral

// Stats are the counts of one referral program, as the admin API answers
// them: attributions by state (Invites is their sum), refusals by reason
// and referrer rewards given.
type Stats struct {
	Invites       int            `json:"invites"`
	Held          int            `json:"held"`
	Qualified     int            `json:"qualified"`
	Cancelled     int            `json:"cancelled"`
	Rejected      map[Reason]int `json:"rejected"` // never nil
	RewardsIssued int            `json:"rewards_issued"`
}

// LeaderboardRow is one referrer's standing in a program.
type LeaderboardRow struct {
	ReferrerKey string `db:"referrer_key" json:"referrer"`
	Code        string `db:"code" json:"code"`
	Qualified   int    `db:"qualified" json:"qualified"`
	Held        int    `db:"held" json:"held"`
}
