package wake

import (
	"testing"
	"time"
)

func TestBroadcastWakesWaitersTakenBefore(t *testing.T) {
	s := New()
	c1, c2 := s.C(), s.C()
	s.Broadcast()
	for i, c := range []<-chan struct{}{c1, c2} {
		select {
		case <-c:
		case <-time.After(30 * time.Second): // hang guard only
			t.Fatalf("waiter %d not woken", i)
		}
	}
	select {
	case <-s.C():
		t.Fatal("a channel taken after the broadcast is already closed")
	default:
	}
}
