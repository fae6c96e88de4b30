package main

import (
	"bufio"
	"flag"
	"net"
	"os"
	"strings"

	"github.com/taskmill/taskmill/server"
)

// accessFlags are serve's flags about who may call the API.
type accessFlags struct {
	keySpecs    stringList
	keysFile    string
	insecure    bool
	corsSpecs   stringList
	keys        []server.APIKey
	corsOrigins []string
}

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// envStringList is a stringList whose default comes from an environment
// variable (comma-separated): the first value given on the command line
// replaces that default instead of adding to it, as with every other
// flag.
type envStringList struct {
	stringList
	fromEnv bool
}

func envList(name string) *envStringList {
	l := &envStringList{}
	if v := envString(name, ""); v != "" {
		_ = l.stringList.Set(v)
		l.fromEnv = len(l.stringList) > 0
	}
	return l
}

func (l *envStringList) Set(v string) error {
	if l.fromEnv {
		l.stringList, l.fromEnv = nil, false
	}
	return l.stringList.Set(v)
}

func (l *envStringList) values() []string { return l.stringList }

func accessFlagSet(fs *flag.FlagSet) *accessFlags {
	a := &accessFlags{}
	if v := os.Getenv("TASKMILL_API_KEYS"); v != "" {
		_ = a.keySpecs.Set(strings.ReplaceAll(v, "\n", ","))
	}
	if v := os.Getenv("TASKMILL_CORS_ORIGINS"); v != "" {
		_ = a.corsSpecs.Set(v)
	}
	fs.Var(&a.keySpecs, "api-key", "an API key NAME:ROLE:TOKEN, ROLE read, worker or admin; repeat for more (env TASKMILL_API_KEYS, comma-separated)")
	fs.StringVar(&a.keysFile, "api-keys-file", envString("TASKMILL_API_KEYS_FILE", ""), "a file of API keys, one NAME:ROLE:TOKEN a line, # comments (env TASKMILL_API_KEYS_FILE)")
	fs.BoolVar(&a.insecure, "insecure", envBool("TASKMILL_INSECURE", false), "allow a non-loopback --addr without API keys: anyone who reaches it controls the queue (env TASKMILL_INSECURE=1)")
	fs.Var(&a.corsSpecs, "cors-origin", "an origin browsers may call the API from, like https://ops.example.com, or *; repeat for more (env TASKMILL_CORS_ORIGINS). Default none")
	return a
}

// check reads the keys and origins, and refuses to expose an open API:
// without keys the address must be loopback unless --insecure is given.
func (a *accessFlags) check(addr string) error {
	specs := append([]string(nil), a.keySpecs...)
	if a.keysFile != "" {
		lines, err := readKeysFile(a.keysFile)
		if err != nil {
			return err
		}
		specs = append(specs, lines...)
	}
	for _, spec := range specs {
		k, err := server.ParseAPIKey(spec)
		if err != nil {
			return usagef("--api-key: %v", err)
		}
		a.keys = append(a.keys, k)
	}
	for _, o := range a.corsSpecs {
		if err := server.ValidateOrigin(o); err != nil {
			return usagef("--cors-origin: %v", err)
		}
		a.corsOrigins = append(a.corsOrigins, o)
	}
	if len(a.keys) == 0 && !a.insecure && !loopbackAddr(addr) {
		return usagef("--addr %s is reachable from other machines and no API key is set: add --api-key NAME:admin:TOKEN (or TASKMILL_API_KEYS), listen on 127.0.0.1, or pass --insecure to serve an open API on purpose", addr)
	}
	return nil
}

func readKeysFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--api-keys-file: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--api-keys-file: %v", err)
	}
	return out, nil
}

// loopbackAddr reports whether every address host:port can bind to is a
// loopback one. An empty host or 0.0.0.0 binds every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
