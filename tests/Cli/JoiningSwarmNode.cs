using Shoal.Api;
using Shoal.DockerApi;
using Shoal.DockerApi.Model;
using Shoal.DockerApi.Tests;

namespace Shoal.Cli.Tests;

/// <summary>
/// A node boundary whose state follows init and join as a real node's does: the calls go to the host's
/// <see cref="FakeSwarmNode"/> (which records them and refuses what a node refuses), and then the node is what it
/// became — after init the manager of the host's control plane; after join a worker, or a manager when
/// <see cref="ManagerToken"/> was the token.
/// </summary>
internal sealed class JoiningSwarmNode(DockerApiHost host) : ISwarmNode
{
    private readonly FakeSwarmNode _inner = host.Node;

    /// <summary>The join token that makes this node a manager.</summary>
    public string ManagerToken { get; init; } = "SWMTKN-1-manager";

    public LocalNodeInfo Info => _inner.Info;

    public Control.ControlClient? Control => _inner.Control;

    public async Task<string> InitAsync(SwarmInitRequest request, CancellationToken cancellationToken)
    {
        await _inner.InitAsync(request, cancellationToken);
        BecomeManager();
        return host.Plane.ManagerId;
    }

    public async Task JoinAsync(SwarmJoinRequest request, CancellationToken cancellationToken)
    {
        await _inner.JoinAsync(request, cancellationToken);
        if (request.JoinToken == ManagerToken)
        {
            BecomeManager();
        }
        else
        {
            _inner.Info = _inner.Info with { LocalNodeState = LocalNodeStates.Active, ControlAvailable = false, NodeId = "worker00000000000000000001" };
        }
    }

    public Task LeaveAsync(bool force, CancellationToken cancellationToken) => _inner.LeaveAsync(force, cancellationToken);

    /// <summary>Makes the host's node a node outside any swarm, as before init or join.</summary>
    public JoiningSwarmNode Inactive()
    {
        _inner.Info = _inner.Info with { LocalNodeState = LocalNodeStates.Inactive, ControlAvailable = false, NodeId = string.Empty, RemoteManagers = [] };
        _inner.Control = null;
        return this;
    }

    private void BecomeManager()
    {
        _inner.Info = _inner.Info with
        {
            LocalNodeState = LocalNodeStates.Active,
            ControlAvailable = true,
            NodeId = host.Plane.ManagerId,
            RemoteManagers = [new Peer { NodeID = host.Plane.ManagerId, Addr = "127.0.0.1:4242" }],
        };
        _inner.Control = host.Plane.Client;
    }
}
