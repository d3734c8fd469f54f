package providers

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns an HTTP client for calls to one vendor's API:
// timeout bounds each call, and its transport keeps up to 64 idle
// connections to the host. http.DefaultTransport keeps two, so a worker
// making more than two calls at once to one provider would open and close a
// connection for most of them — a TLS handshake each, and thousands of
// sockets in TIME_WAIT under load.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
	}}
}
