package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func valid() Config {
	c := Default()
	c.WeChat.OfficialAccount.AppID = "wx1"
	c.WeChat.OfficialAccount.AppSecret = "s"
	c.WeChat.OfficialAccount.Token = "tok"
	return c
}

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "omo.yaml")
	os.WriteFile(path, []byte("http: {addr: \":9000\"}\nwechat:\n  timeout: 2s\n  official_account: {app_id: wxfile}\n"), 0o644)
	c, err := Load(path, false, []string{"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID=wxenv", "OMO_DATABASE_URL=postgres://x/y", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":9000" || c.WeChat.Timeout != 2*time.Second {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.WeChat.OfficialAccount.AppID != "wxenv" || c.Database.URL != "postgres://x/y" {
		t.Errorf("env did not override: app_id=%q db=%q", c.WeChat.OfficialAccount.AppID, c.Database.URL)
	}
	if c.Campaigns.Dir != "configs/campaigns" || c.WeChat.MiniProgram.SessionTTL != 168*time.Hour {
		t.Errorf("default lost: dir %q, session_ttl %s", c.Campaigns.Dir, c.WeChat.MiniProgram.SessionTTL)
	}
	c, err = Load("", false, []string{"OMO_WECHAT_MINI_PROGRAM_SESSION_TTL=24h", "OMO_WECHAT_MINI_PROGRAM_SESSION_SECRET=xyz"})
	if err != nil || c.WeChat.MiniProgram.SessionTTL != 24*time.Hour || c.WeChat.MiniProgram.SessionSecret != "xyz" {
		t.Errorf("session keys from env: ttl %s secret %q, %v", c.WeChat.MiniProgram.SessionTTL, c.WeChat.MiniProgram.SessionSecret, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("http: {adr: x}\n"), 0o644)
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		name    string
		path    string
		env     []string
		wantErr string
	}{
		{"unknown key in file", unknown, nil, "field adr not found"},
		{"missing file", filepath.Join(dir, "nope.yaml"), nil, "no such file"},
		{"bad duration in env", "", []string{"OMO_WECHAT_TIMEOUT=soon"}, "wechat.timeout (OMO_WECHAT_TIMEOUT)"},
		{"unknown env key", "", []string{"OMO_HTTP_PORT=1"}, "OMO_HTTP_PORT names no config key"},
		{"empty file is fine", empty, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, false, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateNamesKey(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"ok", func(*Config) {}, ""},
		{"no token", func(c *Config) { c.WeChat.OfficialAccount.Token = "" }, "wechat.official_account.token: is empty"},
		{"short aes key", func(c *Config) { c.WeChat.OfficialAccount.EncodingAESKey = "abc" }, "wechat.official_account.encoding_aes_key: must be 43"},
		{"bad db", func(c *Config) { c.Database.URL = "mysql://x" }, "database.url"},
		{"bad api base", func(c *Config) { c.WeChat.APIBase = "localhost:1" }, "wechat.api_base"},
		{"bad redis", func(c *Config) { c.Redis.URL = "localhost:6379" }, "redis.url"},
		{"mp half set", func(c *Config) { c.WeChat.MiniProgram.AppID = "wxmp" }, "wechat.mini_program"},
		{"session secret given", func(c *Config) { c.WeChat.MiniProgram.SessionSecret = strings.Repeat("k", 32) }, ""},
		{"short session secret", func(c *Config) { c.WeChat.MiniProgram.SessionSecret = "short" }, "wechat.mini_program.session_secret: must be at least 32"},
		{"no session ttl", func(c *Config) { c.WeChat.MiniProgram.SessionTTL = 0 }, "wechat.mini_program.session_ttl"},
		{"session ttl over 90 days", func(c *Config) { c.WeChat.MiniProgram.SessionTTL = 91 * 24 * time.Hour }, "wechat.mini_program.session_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestShippedConfigListsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../configs/omo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load("../configs/omo.yaml", false, nil); err != nil {
		t.Fatalf("configs/omo.yaml does not load: %v", err)
	}
	for _, k := range Keys() {
		last := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(b), last+":") {
			t.Errorf("configs/omo.yaml does not show key %s", k)
		}
	}
}
