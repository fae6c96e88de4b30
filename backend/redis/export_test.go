package redis

// Slot is the cluster slot the backend computes for a queue's keys,
// exported for the cluster test to compare with Redis's own answer.
func Slot(queue string) int { return int(crc16(queue) % 16384) }

// LeasePin is the member every lease set holds (see scripts.go).
var LeasePin = leasePin
