package campaigns

// Stats are the counts of one campaign (DESIGN.md §3), as the admin API
// answers them. Sent counts messages WeChat accepted (delivered ones
// included); Failed counts messages that will not be sent or that WeChat
// reported undelivered.
type Stats struct {
	Fired           int `db:"fired" json:"fired"`
	Sent            int `db:"sent" json:"sent"`
	Delivered       int `db:"delivered" json:"delivered"`
	Failed          int `db:"failed" json:"failed"`
	Opened          int `db:"opened" json:"opened"`
	CouponsIssued   int `db:"coupons_issued" json:"coupons_issued"`
	CouponsRedeemed int `db:"coupons_redeemed" json:"coupons_redeemed"`
}

// VariantStats are the counts of one variant of a split campaign (see
// Stats): what the firings recorded under that variant did.
type VariantStats struct {
	Name            string `db:"variant" json:"name"`
	Fired           int    `db:"fired" json:"fired"`
	Sent            int    `db:"sent" json:"sent"`
	Delivered       int    `db:"delivered" json:"delivered"`
	Opened          int    `db:"opened" json:"opened"`
	CouponsIssued   int    `db:"coupons_issued" json:"coupons_issued"`
	CouponsRedeemed int    `db:"coupons_redeemed" json:"coupons_redeemed"`
}
