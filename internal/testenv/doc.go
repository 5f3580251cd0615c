// Package testenv starts the real services that omo's tests run against: a
// fresh redis-server per test, a fresh PostgreSQL database per test on a
// cluster shared by the whole test binary, and SQLite files in temp dirs.
//
// Tests never mock Redis or PostgreSQL; they ask this package for a server and
// get a URL. A missing binary skips the test with what to install, except
// when the CI variable is set: CI must never pass by skipping, so there the
// test fails instead.
//
// It also holds what every package's tests share: the WeChat apps they play
// (OAAppID and the rest) and a settable Clock.
//
// A package whose tests call Postgres or Databases needs
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// so the private PostgreSQL cluster, if one was started, is stopped when the
// tests end.
package testenv
