package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"rlhf/store"
	"rlhf/web"
)

// serveOptions are the flags of `rlhf serve`.
type serveOptions struct {
	Dir           string
	DB            string
	Addr          string
	Run           string
	Lease         time.Duration
	Session       time.Duration
	SecureCookies bool
	Admin         string
	Import        string
	ImportRun     string
	Demo          bool
	MaxBody       int64
	TLSCert       string
	TLSKey        string
}

// runServe parses the flags of `rlhf serve` and runs the labeling web app
// until ctx is cancelled.
func runServe(ctx context.Context, args []string) error {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rlhf serve [flags]\n\nServe the labeling web app: labelers compare text completions or control clips,\n"+
			"admins manage labelers, watch agreement, export labels and stop training runs.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Dir, "dir", ".", "run directory; the default SQLite database is `dir`/labels.db")
	fs.StringVar(&o.DB, "db", "", "database `URL`: sqlite:///path/labels.db, a file path, or postgres://user:pass@host:5432/db (default: SQLite in -dir)")
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "listen `address` (host:port)")
	fs.StringVar(&o.Run, "run", "", "only hand out queries of this run `id` (default: every run)")
	fs.DurationVar(&o.Lease, "lease", 10*time.Minute, "how long a labeler holds a query before another labeler may take it")
	fs.DurationVar(&o.Session, "session", 12*time.Hour, "how long a login lasts")
	fs.BoolVar(&o.SecureCookies, "secure-cookies", false, "mark cookies Secure (set when serving over HTTPS, directly or behind a proxy)")
	fs.StringVar(&o.Admin, "admin", "admin", "create this admin `username` if it does not exist; its password comes from $RLHF_ADMIN_PASSWORD, "+
		"or is generated and printed once (empty: create none)")
	fs.StringVar(&o.Import, "import", "", "JSONL `file` of queries to add before serving (see web.ImportQueries)")
	fs.StringVar(&o.ImportRun, "import-run", "imported", "run `id` for imported lines that name none")
	fs.BoolVar(&o.Demo, "demo", false, "add a run \"demo\" with sample text and control queries")
	fs.Int64Var(&o.MaxBody, "max-body", 64<<10, "largest request body in `bytes`")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM; needs -tls-key)")
	fs.StringVar(&o.TLSKey, "tls-key", "", "private key `file` for -tls-cert")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("serve: -tls-cert and -tls-key go together")
	}
	if o.Lease <= 0 || o.Session <= 0 || o.MaxBody < 1024 {
		return errors.New("serve: -lease and -session must be positive and -max-body at least 1024")
	}
	return serve(ctx, o)
}

func serve(ctx context.Context, o serveOptions) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dbURL := o.DB
	if dbURL == "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return fmt.Errorf("serve: run directory: %w", err)
		}
		dbURL = "sqlite://" + filepath.Join(o.Dir, "labels.db")
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer st.Close()

	if o.Admin != "" {
		pw := os.Getenv("RLHF_ADMIN_PASSWORD")
		generated := pw == ""
		if generated {
			pw = web.NewPassword()
		}
		created, err := web.EnsureAdmin(ctx, st, o.Admin, pw)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if created && generated {
			fmt.Fprintf(os.Stderr, "created admin %q with password %s (shown only now; set RLHF_ADMIN_PASSWORD to choose it instead)\n", o.Admin, pw)
		} else if created {
			fmt.Fprintf(os.Stderr, "created admin %q with the password from RLHF_ADMIN_PASSWORD\n", o.Admin)
		}
	}
	if o.Import != "" {
		f, err := os.Open(o.Import)
		if err != nil {
			return fmt.Errorf("serve: import: %w", err)
		}
		n, err := web.ImportQueries(ctx, st, f, o.ImportRun)
		f.Close()
		if err != nil {
			return fmt.Errorf("serve: import %s: %w", o.Import, err)
		}
		fmt.Fprintf(os.Stderr, "imported %d queries from %s\n", n, o.Import)
	}
	if o.Demo {
		n, err := web.SeedDemo(ctx, st, "demo", 2)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		fmt.Fprintf(os.Stderr, "added %d demo queries to run \"demo\"\n", n)
	}

	app, err := web.New(web.Config{Store: st, RunID: o.Run, LeaseTTL: o.Lease, SessionTTL: o.Session,
		SecureCookies: o.SecureCookies, MaxBodyBytes: o.MaxBody, Log: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "serving labeling app on %s://%s (database %s)\n", scheme, ln.Addr(), redactURL(dbURL))
	errc := make(chan error, 1)
	go func() {
		if o.TLSCert != "" {
			errc <- srv.ServeTLS(ln, o.TLSCert, o.TLSKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// redactURL hides a database URL's password where it is printed or
// recorded; a plain file path comes back as it is, and a string that does not
// parse as a URL is not shown at all (it may still hold a password).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
