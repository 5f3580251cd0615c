package stores

// Stats are the counts of one store, as the admin API answers them: scans
// of its QR code by followers, follows through it (NewFollowers of them
// first-ever follows), coupons issued through it and redeemed at it.
type Stats struct {
	Scans           int `db:"scans" json:"scans"`
	Follows         int `db:"follows" json:"follows"`
	NewFollowers    int `db:"new_followers" json:"new_followers"`
	CouponsIssued   int `db:"coupons_issued" json:"coupons_issued"`
	CouponsRedeemed int `db:"coupons_redeemed" json:"coupons_redeemed"`
}
