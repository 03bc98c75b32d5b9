using Grpc.Net.Client;
using Shoal.Ca;
using Shoal.Ca.Client;
using Shoal.Ca.Forwarding;
using Shoal.Raft;

namespace Shoal.Manager;

/// <summary>
/// Where this manager's leader-only calls go: served here when this member leads (and has applied its term's first
/// entry), else relayed to the leader on one channel kept per leader address.
/// </summary>
public sealed class ManagerLeaderRoute(NodeSecurity security) : ILeaderRoute, IDisposable
{
    private readonly Lock _lock = new();
    private RaftNode? _raft;
    private GrpcChannel? _channel;
    private string? _channelAddress;

    /// <summary>The Raft member to follow (null while it is not started).</summary>
    public RaftNode? Raft
    {
        get => Volatile.Read(ref _raft);
        set => Volatile.Write(ref _raft, value);
    }

    /// <inheritdoc/>
    public LeaderRoute Current
    {
        get
        {
            var raft = Raft;
            if (raft is null)
            {
                return new LeaderRoute.Unavailable("this manager is starting; retry in a moment");
            }

            var leadership = raft.Leadership;
            if (leadership.IsLeader)
            {
                return LeaderRoute.Local;
            }

            if (leadership.Leader == 0)
            {
                return new LeaderRoute.Unavailable("the managers have no leader at the moment (an election is under way, or too few managers are reachable for a quorum); retry in a moment");
            }

            if (leadership.Leader == raft.Id)
            {
                return new LeaderRoute.Unavailable("this manager was just elected leader and is catching up; retry in a moment");
            }

            var address = raft.Members.FirstOrDefault(m => m.RaftId == leadership.Leader)?.Addr;
            if (string.IsNullOrEmpty(address))
            {
                return new LeaderRoute.Unavailable($"the leader (Raft ID {leadership.Leader:x}) has no known address yet; retry in a moment");
            }

            return new LeaderRoute.Relay(ChannelTo(address).CreateCallInvoker(), address);
        }
    }

    private GrpcChannel ChannelTo(string address)
    {
        lock (_lock)
        {
            if (_channel is null || _channelAddress != address)
            {
                // Calls still running on the old channel end with it; their callers reconnect.
                _channel?.Dispose();
                _channel = ClusterChannels.Create(address, security);
                _channelAddress = address;
            }

            return _channel;
        }
    }

    /// <summary>Closes the channel to the leader.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _channel?.Dispose();
            _channel = null;
        }
    }
}
