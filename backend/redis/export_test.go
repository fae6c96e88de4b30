package redis

import "time"

// Slot is the cluster slot the backend computes for a queue's keys,
// exported for the cluster test to compare with Redis's own answer.
func Slot(queue string) int { return int(crc16(queue) % 16384) }

// SetHostClock makes b read its host's clock from f: the test plays a
// process whose host clock is off. Call it before b is used.
func SetHostClock(b *Backend, f func() time.Time) { b.hostClock = f }
