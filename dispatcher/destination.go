package dispatcher

import (
	"encoding/base64"
	"errors"
	"net/url"

	"github.com/walbatch/walbatch/internal/redact"
)

// destination is a request URL taken apart so that its secrets never
// travel in text: net/http gets the URL without its userinfo (the userinfo
// goes as an Authorization header, where it is a secret header value like
// any other), and errors and logs get it redacted.
type destination struct {
	send    string      // the URL without userinfo, for net/http
	safe    string      // redact.URL of the URL as given: for errors and logs
	basic   string      // "Basic <credentials>" of the userinfo; "" without one
	secrets []string    // redact.Secrets of the URL, for the redactor
	forms   [][2]string // redact.Forms of the URL, for the redactor
}

// errBadURL is newDestination's one error: the parse error would quote the
// URL, secrets included.
var errBadURL = errors.New("URL must be absolute http:// or https:// with a host")

// newDestination takes raw apart. It fails when raw is not an absolute
// http or https URL with a host; its error never shows raw.
func newDestination(raw string) (*destination, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errBadURL
	}
	d := &destination{send: raw, safe: redact.URL(raw), secrets: redact.Secrets(raw), forms: redact.Forms(raw)}
	if u.User != nil {
		// As net/http would from the userinfo, but visible to the redactor.
		password, _ := u.User.Password()
		d.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+password))
		u.User = nil
		d.send = u.String()
		d.forms = append(d.forms, redact.Forms(d.send)...)
	}
	return d, nil
}
