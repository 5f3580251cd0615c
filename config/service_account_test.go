package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestServiceAccount(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "omo.yaml")
	os.WriteFile(file, []byte("wechat:\n  official_account: {service_account: false}\n"), 0o644)
	tests := []struct {
		name    string
		path    string
		env     []string
		want    bool
		wantErr string
	}{
		{"default: the monthly cap applies", "", nil, true, ""},
		{"file", file, nil, false, ""},
		{"env over file", file, []string{"OMO_WECHAT_OFFICIAL_ACCOUNT_SERVICE_ACCOUNT=true"}, true, ""},
		{"env false", "", []string{"OMO_WECHAT_OFFICIAL_ACCOUNT_SERVICE_ACCOUNT=0"}, false, ""},
		{"env not a bool", "", []string{"OMO_WECHAT_OFFICIAL_ACCOUNT_SERVICE_ACCOUNT=maybe"}, false,
			`wechat.official_account.service_account (OMO_WECHAT_OFFICIAL_ACCOUNT_SERVICE_ACCOUNT): "maybe" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, false, tt.env)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Load err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.WeChat.OfficialAccount.ServiceAccount; got != tt.want {
				t.Errorf("service_account = %v, want %v", got, tt.want)
			}
		})
	}
}
