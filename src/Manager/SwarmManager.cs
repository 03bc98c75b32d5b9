using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;
using Shoal.Ca.Server;
using Shoal.Manager.Membership;
using Shoal.Raft;
using Shoal.Raft.Transport;
using Shoal.Store;

namespace Shoal.Manager;

/// <summary>Settings of a node's manager part.</summary>
public sealed record SwarmManagerOptions
{
    /// <summary>The node's data directory; the Raft member lives in its <c>raft/</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Where the cluster port listens (port 0: the OS picks one, for tests).</summary>
    public required IPEndPoint ListenEndpoint { get; init; }

    /// <summary>host:port other nodes dial; null: the address the port listens on.</summary>
    public string? AdvertiseAddress { get; init; }

    /// <summary>Length of one Raft tick (DESIGN §6: 100 ms).</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Ticks before an election.</summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>More services for the cluster port, and the leader-only components to run (set by the composition root).</summary>
    public ManagerComponents Components { get; init; } = new();
}

/// <summary>
/// What a manager serves beyond Raft, membership and the CA, and what runs while it leads: the composition root adds
/// the control API and the dispatcher here.
/// </summary>
public sealed class ManagerComponents
{
    /// <summary>Registers more services on the cluster port.</summary>
    public Action<ClusterPortBuilder> MapServices { get; init; } = _ => { };

    /// <summary>Leader-only loops, given the port's services; each runs until its token is cancelled, and one that
    /// fails is started again (after a pause that grows to 10 s) for as long as this member leads.</summary>
    public IReadOnlyList<LeaderLoop> LeaderLoops { get; init; } = [];
}

/// <summary>A component that runs while this manager leads (DESIGN §8): the dispatcher, the orchestrators, the
/// allocator, the scheduler.</summary>
/// <param name="Name">For the logs, e.g. "scheduler".</param>
/// <param name="RunAsync">Runs until the token is cancelled (leadership lost); given the cluster port's services.</param>
public sealed record LeaderLoop(string Name, Func<IServiceProvider, CancellationToken, Task> RunAsync);

/// <summary>
/// A node's manager part (DESIGN §2, §3): the cluster port, the Raft member with its store, and the components that
/// run on the leader only — started when this member leads and stopped when it stops leading. It founds a swarm
/// (<see cref="InitializeAsync"/>), joins the managers of one (<see cref="JoinAsync"/>) or restarts from its disk
/// (<see cref="RestartAsync"/>).
/// </summary>
public sealed partial class SwarmManager : IAsyncDisposable
{
    private const string MemberFile = "member.pb";

    private readonly SwarmManagerOptions _options;
    private readonly StoreProposer _proposer;
    private readonly RaftMessageRelay _relay;
    private readonly ManagerLeaderRoute _route;
    private readonly ILogger _logger;
    private readonly Lock _leadershipLock = new();
    private CancellationTokenSource? _leading;
    private Task _leaderWork = Task.CompletedTask;
    private RaftNode? _raft;

    private SwarmManager(SwarmManagerOptions options, NodeSecurity security, StoreProposer proposer, MemoryStore store, ClusterPortServer port, RaftMessageRelay relay, ManagerLeaderRoute route, SwarmManagerState state)
    {
        _options = options;
        Security = security;
        _proposer = proposer;
        Store = store;
        Port = port;
        _relay = relay;
        _route = route;
        State = state;
        _logger = options.LoggerFactory.CreateLogger<SwarmManager>();
    }

    /// <summary>The replicated store (every manager has all of it).</summary>
    public MemoryStore Store { get; }

    /// <summary>The cluster port.</summary>
    public ClusterPortServer Port { get; }

    /// <summary>The node's credentials.</summary>
    public NodeSecurity Security { get; }

    /// <summary>The member and store, as the port's services see them.</summary>
    public SwarmManagerState State { get; }

    /// <summary>The Raft member.</summary>
    public RaftNode Raft => _raft ?? throw new InvalidOperationException("the Raft member is not started");

    /// <summary>host:port other nodes dial.</summary>
    public string AdvertiseAddress { get; private set; } = string.Empty;

    /// <summary>Whether a data directory holds a manager's Raft state to restart from.</summary>
    public static bool HasState(string dataDirectory) => File.Exists(Path.Combine(RaftDirectory(dataDirectory), MemberFile));

    /// <summary>Deletes a manager's Raft state (after a demotion or when leaving the swarm).</summary>
    public static void DeleteState(string dataDirectory)
    {
        var directory = RaftDirectory(dataDirectory);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Founds a swarm (<c>swarm init</c>): a one-member Raft group whose first entries create
    /// <paramref name="cluster"/> and this node (<paramref name="self"/>, with its manager status filled in here).
    /// </summary>
    public static async Task<SwarmManager> InitializeAsync(SwarmManagerOptions options, NodeSecurity security, Cluster cluster, Node self, CancellationToken cancellationToken = default)
    {
        var manager = await StartPortAsync(options, security, cancellationToken).ConfigureAwait(false);
        try
        {
            var member = new RaftMember { RaftId = NewRaftId(), NodeId = security.NodeId, Addr = manager.AdvertiseAddress };
            await manager.StartRaftAsync(member, bootstrap: true, peers: null, cancellationToken).ConfigureAwait(false);
            await manager.WaitForLeadershipAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            var node = self.Clone();
            node.ManagerStatus = new ManagerStatus { RaftId = member.RaftId, Addr = member.Addr, Leader = true, Reachability = RaftReachability.Reachable };
            await manager.Store.UpdateAsync(tx =>
            {
                tx.Create(cluster);
                tx.Create(node);
            }, cancellationToken).ConfigureAwait(false);
            return manager;
        }
        catch
        {
            await manager.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Joins the managers of a swarm, asking one of <paramref name="managers"/> (any manager: a follower relays the
    /// request to the leader) to add this node to the Raft group. Retries while the managers have no leader.
    /// </summary>
    public static async Task<SwarmManager> JoinAsync(SwarmManagerOptions options, NodeSecurity security, IReadOnlyList<string> managers, CancellationToken cancellationToken = default)
    {
        if (managers.Count == 0)
        {
            throw new ArgumentException("a manager to join through is needed", nameof(managers));
        }

        var manager = await StartPortAsync(options, security, cancellationToken).ConfigureAwait(false);
        try
        {
            var joined = await AskToJoinAsync(manager, managers, cancellationToken).ConfigureAwait(false);
            var self = joined.Members.First(m => m.RaftId == joined.RaftId);
            await manager.StartRaftAsync(self, bootstrap: false, joined.Members, cancellationToken).ConfigureAwait(false);

            // Joined means serving: wait until the store has caught up with the swarm (the cluster object is there).
            var caughtUp = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (ClusterSecurity.FindCluster(manager.Store.View()) is null)
            {
                if (DateTime.UtcNow > caughtUp)
                {
                    throw new TimeoutException("this manager joined the Raft group but did not receive the swarm's state within 60 s");
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            return manager;
        }
        catch
        {
            await manager.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Restarts the manager from its Raft state on disk.</summary>
    public static async Task<SwarmManager> RestartAsync(SwarmManagerOptions options, NodeSecurity security, CancellationToken cancellationToken = default)
    {
        var member = RaftMember.Parser.ParseFrom(await File.ReadAllBytesAsync(Path.Combine(RaftDirectory(options.DataDirectory), MemberFile), cancellationToken).ConfigureAwait(false));
        var manager = await StartPortAsync(options with { AdvertiseAddress = options.AdvertiseAddress ?? member.Addr }, security, cancellationToken).ConfigureAwait(false);
        try
        {
            await manager.StartRaftAsync(member, bootstrap: false, peers: null, cancellationToken).ConfigureAwait(false);
            return manager;
        }
        catch
        {
            await manager.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until this member leads (and has applied its term's first entry).</summary>
    public async Task WaitForLeadershipAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (!Raft.IsLeader)
        {
            try
            {
                await Task.Delay(10, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"this manager did not become leader within {timeout.TotalSeconds:0} s");
            }
        }
    }

    /// <summary>Stops the leader-only components, the Raft member and the port.</summary>
    public async ValueTask DisposeAsync()
    {
        Task work;
        lock (_leadershipLock)
        {
            _leading?.Cancel();
            _leading = null;
            work = _leaderWork;
        }

        await work.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _relay.Target = null;
        _route.Raft = null;
        if (_raft is not null)
        {
            _raft.LeadershipChanged -= OnLeadershipChanged;
            await _raft.DisposeAsync().ConfigureAwait(false);
        }

        await Port.DisposeAsync().ConfigureAwait(false);
        _route.Dispose();
        _proposer.Dispose();
    }

    private static string RaftDirectory(string dataDirectory) => Path.Combine(dataDirectory, "raft");

    private static ulong NewRaftId() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    private static async Task<SwarmManager> StartPortAsync(SwarmManagerOptions options, NodeSecurity security, CancellationToken cancellationToken)
    {
        var proposer = new StoreProposer();
        var store = proposer.CreateStore(options.TimeProvider);
        var relay = new RaftMessageRelay();
        var route = new ManagerLeaderRoute(security);
        var state = new SwarmManagerState(store);
        ClusterPortServer port;
        try
        {
            port = await ClusterPortServer.StartAsync(
                options.ListenEndpoint,
                security,
                new StoreRemovedNodes(store),
                builder =>
                {
                    builder.Services.AddSingleton(store);
                    builder.Services.AddSingleton(options.TimeProvider);
                    builder.Services.AddSingleton(state);
                    builder.MapRaft(relay);
                    builder.MapRaftMembership();
                    builder.MapCertificateAuthority();
                    options.Components.MapServices(builder);
                    builder.UseLeaderRoute(route);
                },
                options.LoggerFactory,
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            route.Dispose();
            proposer.Dispose();
            throw;
        }

        var manager = new SwarmManager(options, security, proposer, store, port, relay, route, state);
        manager.AdvertiseAddress = AdvertiseOf(options.AdvertiseAddress, port);
        return manager;
    }

    /// <summary>The advertised address, with the port the listener got when none (or 0) was given.</summary>
    private static string AdvertiseOf(string? advertise, ClusterPortServer port)
    {
        if (string.IsNullOrWhiteSpace(advertise))
        {
            return port.HostPort;
        }

        var (host, advertisedPort) = ClusterChannels.SplitHostPort(advertise);
        if (advertisedPort == 0 || !advertise.Contains(':', StringComparison.Ordinal) || advertise.EndsWith(']'))
        {
            advertisedPort = port.Address.Port;
        }

        return host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{advertisedPort}" : $"{host}:{advertisedPort}";
    }

    private async Task StartRaftAsync(RaftMember self, bool bootstrap, IReadOnlyList<RaftMember>? peers, CancellationToken cancellationToken)
    {
        var directory = RaftDirectory(_options.DataDirectory);
        var raftOptions = new RaftNodeOptions
        {
            Directory = directory,
            Self = self,
            TickInterval = _options.TickInterval,
            ElectionTick = _options.ElectionTick,
            TimeProvider = _options.TimeProvider,
        };
        var raft = await RaftNode.StartAsync(raftOptions, _proposer, Security, bootstrap, peers, _options.LoggerFactory, cancellationToken).ConfigureAwait(false);

        // Written once the member's directory exists (the member made it, private); a restart reads it back. A crash
        // before it is written leaves a member that restarts by joining again.
        var memberFile = Path.Combine(directory, MemberFile);
        await File.WriteAllBytesAsync(memberFile + ".tmp", self.ToByteArray(), cancellationToken).ConfigureAwait(false);
        File.Move(memberFile + ".tmp", memberFile, overwrite: true);
        _proposer.Attach(raft);
        _raft = raft;
        State.Raft = raft;
        _route.Raft = raft;
        _relay.Target = raft.Sink;
        raft.LeadershipChanged += OnLeadershipChanged;
        OnLeadershipChanged(raft.Leadership);
        LogStarted(_logger, self.RaftId, AdvertiseAddress);
    }

    private static async Task<RaftJoinResponse> AskToJoinAsync(SwarmManager manager, IReadOnlyList<string> managers, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 0; ; attempt++)
        {
            var address = managers[attempt % managers.Count];
            using var channel = ClusterChannels.Create(address, manager.Security);
            try
            {
                return await new RaftMembership.RaftMembershipClient(channel)
                    .JoinAsync(new RaftJoinRequest { Addr = manager.AdvertiseAddress }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && DateTime.UtcNow < deadline)
            {
                LogJoinRetry(manager._logger, address, e.Status.Detail);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
            }
        }
    }

    private void OnLeadershipChanged(LeadershipChange change)
    {
        lock (_leadershipLock)
        {
            if (change.IsLeader && _leading is null && _raft is not null)
            {
                _leading = new CancellationTokenSource();
                var token = _leading.Token;
                var previous = _leaderWork;
                _leaderWork = Task.Run(async () =>
                {
                    await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    await RunLeaderAsync(token).ConfigureAwait(false);
                }, CancellationToken.None);
            }
            else if (!change.IsLeader && _leading is not null)
            {
                _leading.Cancel();
                _leading.Dispose();
                _leading = null;
            }
        }
    }

    private async Task RunLeaderAsync(CancellationToken cancellationToken)
    {
        LogLeading(_logger, Raft.Id);
        var roles = new RoleManager(Store, Raft, _options.LoggerFactory.CreateLogger<RoleManager>());
        var loops = new List<Task> { GuardAsync("role manager", roles.RunAsync, cancellationToken) };
        foreach (var loop in _options.Components.LeaderLoops)
        {
            loops.Add(RestartingAsync(loop, cancellationToken));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="loop"/> while leading; a failure or an early return starts it again after a
    /// pause (1 s, doubling to 10 s), so that one bad pass never leaves the swarm without, say, a scheduler.</summary>
    private async Task RestartingAsync(LeaderLoop loop, CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromSeconds(1);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await loop.RunAsync(Port.Services, cancellationToken).ConfigureAwait(false);
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                LogLoopEnded(_logger, loop.Name, pause);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopRestarting(_logger, loop.Name, pause, e);
            }

            try
            {
                await Task.Delay(pause, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    private async Task GuardAsync(string name, Func<CancellationToken, Task> loop, CancellationToken cancellationToken)
    {
        try
        {
            await loop(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogLoopFailed(_logger, name, e);
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Manager started: Raft member {RaftId:x} at {Address}")]
    private static partial void LogStarted(ILogger logger, ulong raftId, string address);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Leading (Raft member {RaftId:x}): starting the leader-only components")]
    private static partial void LogLeading(ILogger logger, ulong raftId);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Joining the managers through {Address} is not possible yet ({Reason}); retrying")]
    private static partial void LogJoinRetry(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "The {Name} failed; starting it again in {Pause}")]
    private static partial void LogLoopRestarting(ILogger logger, string name, TimeSpan pause, Exception exception);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "The {Name} stopped while this manager still leads; starting it again in {Pause}")]
    private static partial void LogLoopEnded(ILogger logger, string name, TimeSpan pause);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "The {Name} stopped with an error")]
    private static partial void LogLoopFailed(ILogger logger, string name, Exception exception);
}
