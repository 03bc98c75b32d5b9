using Google.Protobuf;
using Grpc.Core;
using Shoal.Api;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Ca.Forwarding;
using Shoal.Ca.Tests.Probe;

namespace Shoal.Ca.Tests;

/// <summary>
/// A follower relays leader-only calls to the leader on its one channel there, and the leader serves them as the
/// original caller — which it believes only from a manager's certificate. Two real ports with mutual TLS on loopback.
/// </summary>
public sealed class RelayTests
{
    [Fact]
    public async Task AWorkersCall_ToAFollower_IsServedByTheLeader_AsTheWorker()
    {
        await using var pair = await Pair.StartAsync();
        var worker = pair.Leader.Issue(NodeRole.Worker);
        using var channel = pair.Follower.Channel(worker);

        var seen = await new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty());

        Assert.Equal(worker.NodeId, seen.NodeId);
        Assert.Equal(Roles.Worker, seen.Role);
        Assert.StartsWith("ipv4:127.0.0.1:", seen.Address, StringComparison.Ordinal);
        Assert.Equal(1, pair.Leader.Probe.Calls);
        Assert.Equal(0, pair.Follower.Probe.Calls);
    }

    [Fact]
    public async Task AStream_IsRelayedMessageByMessage()
    {
        await using var pair = await Pair.StartAsync();
        var worker = pair.Leader.Issue(NodeRole.Worker);
        using var channel = pair.Follower.Channel(worker);

        using var call = new Probe.Probe.ProbeClient(channel).RelayedTicks(new Empty());
        var ticks = await call.ResponseStream.ReadAllAsync().ToListAsync(TestContext.Current.CancellationToken);

        Assert.Equal([1L, 2L, 3L], ticks.Select(t => t.Sequence));
        Assert.All(ticks, t => Assert.Equal(worker.NodeId, t.NodeId));
    }

    [Fact]
    public async Task AJoinWithoutCertificate_ThroughAFollower_IsAdmittedByTheLeadersCa()
    {
        await using var pair = await Pair.StartAsync();
        using var key = NodeKeys.Create();
        using var channel = ClusterChannels.CreateBootstrap(pair.Follower.HostPort, null, TimeProvider.System);

        var issued = await new NodeCA.NodeCAClient(channel).IssueNodeCertificateAsync(new IssueNodeCertificateRequest
        {
            Csr = ByteString.CopyFrom(NodeKeys.CreateSigningRequest(key)),
            Token = pair.Leader.WorkerToken.Value,
        });

        var node = pair.Leader.Store.View().Nodes.Get(issued.NodeId);
        Assert.NotNull(node);
        Assert.Equal(NodeRole.Worker, node.Role);
    }

    [Fact]
    public async Task AWorker_ForgingTheRelayHeader_IsRefused()
    {
        await using var pair = await Pair.StartAsync();
        var worker = pair.Leader.Issue(NodeRole.Worker);
        var manager = pair.Leader.Issue(NodeRole.Manager);
        using var channel = pair.Leader.Channel(worker);
        var headers = new Metadata { { RelayHeaders.ForwardedFor, $"{manager.NodeId} {Roles.Manager}" } };

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty(), headers).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("only managers relay", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, pair.Leader.Probe.Calls);
    }

    [Fact]
    public async Task AManager_RelayingAMethodTheLeaderDoesNotOwn_IsRefused()
    {
        await using var pair = await Pair.StartAsync();
        var manager = pair.Leader.Issue(NodeRole.Manager);
        var worker = pair.Leader.Issue(NodeRole.Worker);
        using var channel = pair.Leader.Channel(manager);
        var headers = new Metadata { { RelayHeaders.ForwardedFor, $"{worker.NodeId} {Roles.Worker}" } };

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty(), headers).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task ARelayedCall_ForARemovedNode_IsRefusedByTheLeader()
    {
        await using var pair = await Pair.StartAsync();
        var worker = pair.Leader.Issue(NodeRole.Worker);
        await ClusterSecurity.RefuseNodeAsync(pair.Leader.Store, worker.NodeId, worker.Certificate.NotAfter, TestContext.Current.CancellationToken);
        using var channel = pair.Follower.Channel(worker); // the follower's own store does not know of the removal

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("was removed", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutALeader_TheCallFailsAsUnavailable_WithTheReason()
    {
        var route = new MutableRoute { Current = new LeaderRoute.Unavailable("no leader is elected yet; retry") };
        await using var port = await ManagerPort.StartAsync(route: route);
        using var channel = port.Channel(port.Issue(NodeRole.Worker));

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("no leader is elected yet; retry", error.Status.Detail);
    }

    [Fact]
    public async Task ARelayedCall_ReachingAManagerThatNoLongerLeads_IsNotRelayedAgain()
    {
        await using var pair = await Pair.StartAsync();
        // The leader steps down and now believes the follower leads: a relayed call is refused, not bounced back.
        pair.LeaderRoute.Current = new LeaderRoute.Relay(pair.FollowerChannel.CreateCallInvoker(), pair.Follower.HostPort);
        var worker = pair.Leader.Issue(NodeRole.Worker);
        using var channel = pair.Follower.Channel(worker);

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("not the leader any more", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACallRelayedToALeaderThatCannotBeReached_SaysSo_NamingTheLeader()
    {
        var route = new MutableRoute();
        await using var port = await ManagerPort.StartAsync(route: route);
        // A leader address nothing listens on (a port just freed).
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var deadAddress = $"127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}";
        listener.Stop();
        var manager = port.Issue(NodeRole.Manager);
        using var toDeadLeader = Shoal.Ca.Client.ClusterChannels.Create(deadAddress, new NodeSecurity(manager));
        route.Current = new LeaderRoute.Relay(toDeadLeader.CreateCallInvoker(), deadAddress);
        using var channel = port.Channel(port.Issue(NodeRole.Worker));

        var error = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).RelayedAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.StartsWith($"this manager could not relay the call to the leader at {deadAddress} (", error.Status.Detail, StringComparison.Ordinal);
    }

    private sealed class MutableRoute : ILeaderRoute
    {
        public LeaderRoute Current { get; set; } = LeaderRoute.Local;
    }

    /// <summary>A leader port and a follower port (a manager of the same swarm) whose route relays to the leader.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private Pair(ManagerPort leader, MutableRoute leaderRoute, ManagerPort follower, Grpc.Net.Client.GrpcChannel toLeader, Grpc.Net.Client.GrpcChannel toFollower)
        {
            Leader = leader;
            LeaderRoute = leaderRoute;
            Follower = follower;
            ToLeader = toLeader;
            FollowerChannel = toFollower;
        }

        public ManagerPort Leader { get; }

        public MutableRoute LeaderRoute { get; }

        public ManagerPort Follower { get; }

        public Grpc.Net.Client.GrpcChannel ToLeader { get; }

        public Grpc.Net.Client.GrpcChannel FollowerChannel { get; }

        public static async Task<Pair> StartAsync()
        {
            var leaderRoute = new MutableRoute();
            var leader = await ManagerPort.StartAsync(route: leaderRoute);
            var followerCredentials = leader.Issue(NodeRole.Manager);
            var followerRoute = new MutableRoute();
            var follower = await ManagerPort.StartAsync(serveAs: followerCredentials, route: followerRoute);
            var toLeader = leader.Channel(follower.Security);
            followerRoute.Current = new LeaderRoute.Relay(toLeader.CreateCallInvoker(), leader.HostPort);
            var toFollower = follower.Channel(leader.Security);
            return new Pair(leader, leaderRoute, follower, toLeader, toFollower);
        }

        public async ValueTask DisposeAsync()
        {
            ToLeader.Dispose();
            FollowerChannel.Dispose();
            await Follower.DisposeAsync();
            await Leader.DisposeAsync();
        }
    }
}
