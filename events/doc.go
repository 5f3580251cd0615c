// Package events holds the inbound side of omo: what a follower did, as the
// Official Account pushed it. An Event is the normalised form of one pushed
// message or event; its DedupeKey is what makes WeChat's retries (up to three
// per push) act once. The wechat package parses the wire XML into Events; the
// engine decides what they mean. This package imports nothing but the
// standard library.
package events
