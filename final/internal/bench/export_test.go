package bench

// Ack makes an acknowledgement for the tests of Verify.
func Ack(index, offset uint64) ack { return ack{index: index, offset: offset} }

// Acks is what Verify takes: each client's acknowledgements.
type Acks = [][]ack
