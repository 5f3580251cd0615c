package coupons

// Discount is what a coupon takes off: either AmountFen (from a spend of
// MinSpendFen, 0 = any) or Percent. Money is integer fen. Campaign files
// write it as discount: {amount_fen, min_spend_fen} or {percent}, and
// campaigns.Load guarantees exactly one of AmountFen and Percent is set.
type Discount struct {
	AmountFen   int64 // discount.amount_fen; 0 when Percent is set
	MinSpendFen int64 // discount.min_spend_fen
	Percent     int   // discount.percent (1-99); 0 when AmountFen is set
}
