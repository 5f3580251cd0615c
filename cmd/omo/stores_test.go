package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
)

// TestStoresImport: a file with bad rows imports nothing and names every
// bad line; a good file imports; importing again updates in place; WGS-84
// input is converted to GCJ-02.
func TestStoresImport(t *testing.T) {
	dbURL := testenv.SQLiteURL(t)
	environ := []string{"OMO_DATABASE_URL=" + dbURL}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	count := func() []string {
		db, err := sqldb.Open(context.Background(), dbURL, discardLog())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		list, err := db.Stores(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.ID+"="+s.Name)
		}
		return out
	}

	bad := write("bad.csv", "id,name,lat,lng,city\nsh-001,People's Square,31.2304,121.4737,Shanghai\nsh-002,,31.2,121.4,Shanghai\nsh-003,Bund,abc,121.49,Shanghai\n")
	stdout, _, err := runFor(t, 20*time.Second, []string{"stores", "import", bad}, environ)
	if err == nil {
		t.Fatalf("import of a file with bad rows succeeded:\n%s", stdout)
	}
	for _, want := range []string{"nothing imported", "line 3", "line 4"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if got := count(); len(got) != 0 {
		t.Fatalf("stores after a refused import = %v, want none", got)
	}

	good := write("good.csv", "id,name,lat,lng,city,address,page\nsh-001,People's Square,31.2304,121.4737,Shanghai,Nanjing Rd 1,pages/store/index?id=sh-001\nbj-001,Wangfujing,39.9149,116.4108,Beijing,,\n")
	if stdout, _, err := runFor(t, 20*time.Second, []string{"stores", "import", good}, environ); err != nil || !strings.Contains(stdout, "imported 2 stores") || !strings.Contains(stdout, "2 new") {
		t.Fatalf("import: %v\n%s", err, stdout)
	}
	again := write("again.csv", "id,name,lat,lng\nsh-001,People's Square Flagship,31.2304,121.4737\n")
	if stdout, _, err := runFor(t, 20*time.Second, []string{"stores", "import", again}, environ); err != nil || !strings.Contains(stdout, "0 new, 1 updated") {
		t.Fatalf("re-import: %v\n%s", err, stdout)
	}
	if got := strings.Join(count(), ","); got != "bj-001=Wangfujing,sh-001=People's Square Flagship" {
		t.Errorf("catalogue = %s", got)
	}
	if _, _, err := runFor(t, 5*time.Second, []string{"stores", "import", "--coords", "bd09", good}, environ); err == nil {
		t.Error("--coords bd09 accepted")
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
