package redis

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster maps keys to slots
// with (slot = crc16(tag) mod 16384). Only the hash tag — the queue name
// between { and } — is hashed.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
