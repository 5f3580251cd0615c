package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
)

// runQRCode is `omo qrcode --scene store:sh-001 --out sh-001.png`: a
// permanent OA QR code (QR_LIMIT_STR_SCENE) for a store's counter or
// poster. A scene gets one code: asking again reuses it (WeChat caps
// permanent codes at 100,000 per account).
func runQRCode(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("qrcode", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	scene := fs.String("scene", "", "the scene the code carries, e.g. store:sh-001 (1-64 characters)")
	out := fs.String("out", "", "where to save the image, e.g. sh-001.png")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if n := len([]rune(*scene)); n < 1 || n > 64 || *out == "" {
		return usageError{"usage: omo qrcode --scene SCENE (1-64 characters, e.g. store:sh-001) --out FILE.png"}
	}
	oa, err := configOA(ctx, fs, *path, env)
	if err != nil {
		return err
	}
	defer oa.close()
	db, wx := oa.db, oa.wx
	code, made, err := permanentCode(ctx, db, wx, *scene)
	if err != nil {
		return err
	}
	img, err := wx.QRCodeImage(ctx, code.Ticket)
	if err != nil {
		return fmt.Errorf("downloading the QR code image: %w", err)
	}
	if err := os.WriteFile(*out, img, 0o644); err != nil {
		return err
	}
	verb := "reused the permanent QR code made"
	if made {
		verb = "made a permanent QR code"
	}
	fmt.Fprintf(env.stdout, "%s for scene %s (%s): %s, %d bytes\n  ticket %s\n  encodes %s\n", verb, *scene,
		code.CreatedAt.Local().Format("2006-01-02"), *out, len(img), code.Ticket, code.URL)
	return nil
}

// permanentCode returns the scene's permanent code, making it the first time.
func permanentCode(ctx context.Context, db *sqldb.DB, wx *wechat.Client, scene string) (*sqldb.QRCode, bool, error) {
	code, err := db.QRCode(ctx, scene)
	if err == nil {
		return code, false, nil
	}
	if !errs.Is(err, errs.NotFound) {
		return nil, false, err
	}
	qr, err := wx.CreateQRCode(ctx, scene, 0)
	if err != nil {
		return nil, false, fmt.Errorf("creating the QR code: %w", err)
	}
	code = &sqldb.QRCode{Scene: scene, Ticket: qr.Ticket, URL: qr.URL, CreatedAt: time.Now()}
	if err := db.Write(ctx, func(tx *sqldb.Tx) error { return tx.SaveQRCode(*code) }); err != nil {
		return nil, false, err
	}
	code, err = db.QRCode(ctx, scene) // the first code if another process raced us
	return code, err == nil && code.Ticket == qr.Ticket, err
}
