// Package config is omo's configuration: a typed struct filled from
// defaults, then the YAML file, then OMO_* environment variables, then
// checked by Validate, whose messages name the key that is wrong.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of omo. The yaml tags are the keys of
// configs/omo.yaml; the environment variable of a key is OMO_ followed by
// its path in upper case with dots as underscores
// (wechat.official_account.app_id = OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID).
type Config struct {
	HTTP struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
	WeChat struct {
		APIBase         string        `yaml:"api_base"`
		Timeout         time.Duration `yaml:"timeout"`
		OfficialAccount struct {
			AppID          string `yaml:"app_id"`
			AppSecret      string `yaml:"app_secret"`
			Token          string `yaml:"token"`
			EncodingAESKey string `yaml:"encoding_aes_key"`
			// ServiceAccount: the OA is a service account (服务号), whose
			// followers receive at most 4 mass sends a month; omo counts
			// them and skips those who have spent theirs. false for a
			// subscription account (no per-follower cap).
			ServiceAccount bool `yaml:"service_account"`
		} `yaml:"official_account"`
		MiniProgram struct {
			AppID     string `yaml:"app_id"`
			AppSecret string `yaml:"app_secret"`
			// SessionSecret signs the /mp/v1 session tokens; "" = derived
			// from AppSecret (HMAC-SHA256 keyed with it over "omo-session").
			SessionSecret string        `yaml:"session_secret"`
			SessionTTL    time.Duration `yaml:"session_ttl"`
			// SharePage is the page a shared referral link and the referral
			// mini-program code open.
			SharePage string `yaml:"share_page"`
		} `yaml:"mini_program"`
	} `yaml:"wechat"`
	Database struct {
		URL string `yaml:"url"`
		// Committers is how many group committers write at once: 0 = the
		// default (1 on SQLite, its only writer; 4 on PostgreSQL, where a
		// committer mostly waits for round trips).
		Committers int `yaml:"committers"`
	} `yaml:"database"`
	Redis struct {
		URL string `yaml:"url"`
	} `yaml:"redis"`
	Campaigns struct {
		Dir string `yaml:"dir"`
	} `yaml:"campaigns"`
	Admin struct {
		Token string `yaml:"token"`
	} `yaml:"admin"`
	Worker struct {
		Concurrency int `yaml:"concurrency"`
		SendRate    int `yaml:"send_rate"`
	} `yaml:"worker"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Followers struct {
		// SyncEvery is how often `omo serve` reads WeChat's whole follower
		// list (omo followers sync); 0 = never.
		SyncEvery time.Duration `yaml:"sync_every"`
	} `yaml:"followers"`
}

// MinSessionSecret is the shortest wechat.mini_program.session_secret
// accepted: a shorter one could be guessed, and with it anyone could sign
// session tokens.
const MinSessionSecret = 32

// MinSyncEvery is the shortest followers.sync_every accepted: every pass
// spends user/get calls, of which WeChat allows 500 a day.
const MinSyncEvery = time.Hour

// Default returns the embedded defaults: SQLite file, in-process Redis.
func Default() Config {
	var c Config
	c.HTTP.Addr = ":8080"
	c.WeChat.Timeout = 5 * time.Second
	c.WeChat.OfficialAccount.ServiceAccount = true
	c.WeChat.MiniProgram.SessionTTL = 168 * time.Hour
	c.Database.URL = "sqlite://omo.db"
	c.Campaigns.Dir = "configs/campaigns"
	c.WeChat.MiniProgram.SharePage = "pages/index/index"
	c.Worker.Concurrency = 20
	c.Worker.SendRate = 500
	c.Log.Level = "info"
	c.Log.Format = "text"
	return c
}

// Load returns the defaults overlaid with the YAML file at path (skipped
// when path is "" or, if optional, missing) and then with the OMO_*
// variables in env. It does not validate.
func Load(path string, optional bool, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
				return c, fmt.Errorf("config %s: %w", path, err)
			}
		case optional && errors.Is(err, os.ErrNotExist):
		default:
			return c, fmt.Errorf("config: %w", err)
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	return c, nil
}

// applyEnv sets every key named by an OMO_ variable in env.
func applyEnv(c *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "OMO_") && k != "OMO_CONFIG" {
			vars[k] = v
		}
	}
	known := map[string]bool{}
	err := walk(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) error {
		name := EnvName(key)
		known[name] = true
		v, ok := vars[name]
		if !ok {
			return nil
		}
		return set(f, key, name, v)
	})
	if err != nil {
		return err
	}
	for k := range vars {
		if !known[k] && !strings.HasPrefix(k, "OMO_TEST_") {
			return fmt.Errorf("environment variable %s names no config key", k)
		}
	}
	return nil
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return "OMO_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys lists every config key in file order.
func Keys() []string {
	var keys []string
	c := Default()
	walk(reflect.ValueOf(&c).Elem(), "", func(key string, _ reflect.Value) error {
		keys = append(keys, key)
		return nil
	})
	return keys
}

func walk(v reflect.Value, prefix string, fn func(key string, f reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := walk(f, key, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(key, f); err != nil {
			return err
		}
	}
	return nil
}

func set(f reflect.Value, key, name, v string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(v)
	case time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s (%s): %q is not a duration like 5s", key, name, v)
		}
		f.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s (%s): %q is not true or false", key, name, v)
		}
		f.SetBool(b)
	case int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s (%s): %q is not an integer", key, name, v)
		}
		f.SetInt(int64(n))
	default:
		return fmt.Errorf("%s: unsupported type %s", key, f.Type())
	}
	return nil
}

// Validate checks c and returns every problem, one a line, each naming its key.
func (c *Config) Validate() error {
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, key+": "+fmt.Sprintf(format, args...))
	}
	if c.HTTP.Addr == "" {
		bad("http.addr", "is empty; want host:port such as :8080")
	}
	if c.WeChat.APIBase != "" {
		if u, err := url.Parse(c.WeChat.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("wechat.api_base", "%q is not an http(s) URL", c.WeChat.APIBase)
		}
	}
	if c.WeChat.Timeout <= 0 {
		bad("wechat.timeout", "must be positive, got %s", c.WeChat.Timeout)
	}
	oa := c.WeChat.OfficialAccount
	if oa.AppID == "" {
		bad("wechat.official_account.app_id", "is empty")
	}
	if oa.AppSecret == "" {
		bad("wechat.official_account.app_secret", "is empty")
	}
	if oa.Token == "" {
		bad("wechat.official_account.token", "is empty; it is the Token set in the OA console")
	} else if len(oa.Token) < 3 || len(oa.Token) > 32 {
		bad("wechat.official_account.token", "must be 3-32 characters, got %d", len(oa.Token))
	}
	if k := oa.EncodingAESKey; k != "" && len(k) != 43 {
		bad("wechat.official_account.encoding_aes_key", "must be 43 characters, got %d", len(k))
	}
	mp := c.WeChat.MiniProgram
	if (mp.AppID == "") != (mp.AppSecret == "") {
		bad("wechat.mini_program", "app_id and app_secret go together")
	}
	if n := len(mp.SessionSecret); n > 0 && n < MinSessionSecret {
		bad("wechat.mini_program.session_secret", "must be at least %d characters, got %d (or empty to derive it from app_secret)", MinSessionSecret, n)
	}
	if mp.SessionTTL < time.Minute || mp.SessionTTL > 90*24*time.Hour {
		bad("wechat.mini_program.session_ttl", "must be between 1m and 2160h (90 days), got %s", mp.SessionTTL)
	}
	if !strings.HasPrefix(c.Database.URL, "sqlite:") && !strings.HasPrefix(c.Database.URL, "postgres://") && !strings.HasPrefix(c.Database.URL, "postgresql://") {
		bad("database.url", "%q: want sqlite://PATH or postgres://USER:PASS@HOST/DB", c.Database.URL)
	}
	if u := c.Redis.URL; u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		bad("redis.url", "%q: want redis://HOST:PORT/DB, or empty for the embedded Redis", u)
	}
	if p := c.WeChat.MiniProgram.SharePage; p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
		bad("wechat.mini_program.share_page", "%q: want a page path such as pages/index/index (no leading /, no query)", p)
	}
	if c.Worker.SendRate < 0 {
		bad("worker.send_rate", "must be 0 (no limit) or more, got %d", c.Worker.SendRate)
	}
	if c.Database.Committers < 0 || c.Database.Committers > 64 {
		bad("database.committers", "must be 0 (the default) to 64, got %d", c.Database.Committers)
	}
	if c.Database.Committers > 1 && strings.HasPrefix(c.Database.URL, "sqlite:") {
		bad("database.committers", "SQLite has one writer: leave it 0 or 1, got %d", c.Database.Committers)
	}
	if c.Worker.Concurrency < 1 {
		bad("worker.concurrency", "must be at least 1, got %d", c.Worker.Concurrency)
	}
	if d := c.Followers.SyncEvery; d != 0 && d < MinSyncEvery {
		bad("followers.sync_every", "must be 0 (off) or at least %s, got %s (WeChat allows 500 user/get calls a day)", MinSyncEvery, d)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if len(problems) > 0 {
		return errors.New("config: " + strings.Join(problems, "\nconfig: "))
	}
	return nil
}
