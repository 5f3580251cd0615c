package main

import (
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/worker"
)

// The fan-out's mass chunks go through the same WeChat sender as single sends.
var _ worker.MassSender = (*wechat.Sender)(nil)
