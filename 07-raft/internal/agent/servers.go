package agent

import (
	api "golog/api/v1"
	"golog/internal/consensus"
	"golog/internal/server"
)

// serverList answers the GetServers RPC from the Raft configuration of the log.
type serverList struct {
	log *consensus.DistributedLog
}

var _ server.ServerLister = serverList{}

// GetServers returns the servers of the latest configuration this server knows, with
// the one it believes leads marked. A follower's view can lag the leader's by a moment.
func (l serverList) GetServers() ([]*api.Server, error) {
	servers, err := l.log.GetServers()
	if err != nil {
		return nil, err
	}
	out := make([]*api.Server, len(servers))
	for i, s := range servers {
		out[i] = &api.Server{Id: s.ID, RpcAddr: s.RPCAddr, IsLeader: s.IsLeader}
	}
	return out, nil
}
