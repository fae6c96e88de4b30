package redis

import "errors"

// The lease script returns its tasks packed by Redis's cmsgpack into one
// string, not as a nested reply: a reply of arrays costs Redis one reply
// node per field and go-redis one boxed string per field, the largest
// share of a worker's CPU on the hot path. unpacker reads the subset of
// MessagePack that cmsgpack.pack writes for a table of strings:
// arrays (fixarray, array 16, array 32) and strings (fixstr, str 8,
// str 16, str 32). Anything else is an error: the scripts pack nothing
// else, and the reply is never trusted to be well formed.

var errPacked = errors.New("redis: malformed packed reply")

// unpacker reads values from s in order. The strings it returns are
// slices of s; a caller that keeps one long copies it (strings.Clone),
// so that a task does not hold its whole batch's reply.
type unpacker struct {
	s   string
	err error
}

// head reads a value's header: whether it is an array, and its length
// (elements or bytes).
func (u *unpacker) head() (array bool, n int) {
	if u.err != nil {
		return false, 0
	}
	if len(u.s) == 0 {
		u.err = errPacked
		return false, 0
	}
	c := u.s[0]
	size := 0 // bytes of the length after the type byte
	switch {
	case c&0xf0 == 0x90:
		array, n = true, int(c&0x0f)
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xdc:
		array, size = true, 2
	case c == 0xdd:
		array, size = true, 4
	case c == 0xd9:
		size = 1
	case c == 0xda:
		size = 2
	case c == 0xdb:
		size = 4
	default:
		u.err = errPacked
		return false, 0
	}
	if len(u.s) < 1+size {
		u.err = errPacked
		return false, 0
	}
	if size > 0 {
		n = 0
		for _, b := range []byte(u.s[1 : 1+size]) { // big-endian
			n = n<<8 | int(b)
		}
	}
	u.s = u.s[1+size:]
	// Every element takes at least one byte: a length past what is left
	// is malformed, and refusing it here bounds what callers allocate.
	if n > len(u.s) {
		u.err = errPacked
		return false, 0
	}
	return array, n
}

// array reads an array's header and returns its length.
func (u *unpacker) array() int {
	array, n := u.head()
	if !array && u.err == nil {
		u.err = errPacked
	}
	return n
}

// str reads a string.
func (u *unpacker) str() string {
	array, n := u.head()
	if array && u.err == nil {
		u.err = errPacked
	}
	if u.err != nil {
		return ""
	}
	v := u.s[:n]
	u.s = u.s[n:]
	return v
}
