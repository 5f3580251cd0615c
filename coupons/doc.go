// Package coupons answers what a coupon is: its value (a Discount), its
// unguessable code, the states it goes through (issued, redeemed, expired,
// revoked) and what a redemption at the till may do. Campaign files give a
// pool its Discount and title (package campaigns); the engine issues
// coupons from it and storage keeps them as Coupon values. Stock is
// enforced by storage with a conditional decrement in the issuing
// transaction, never read-then-write.
//
// This package imports no HTTP, queue, WeChat or SQL package.
package coupons
