// Package referral will hold the referral program's rules (DESIGN.md §5):
// attribution, qualification after a hold, rewards and caps. It imports no
// HTTP, queue, WeChat or SQL package.
package referral
