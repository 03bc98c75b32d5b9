using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Bench;

/// <summary>
/// A swarm of real <c>shoal agent</c> processes on loopback (or each in its own network namespace, see
/// <see cref="LocalSwarmOptions.Hosts"/>), under one short temporary root: the first manager founds
/// it through its local API, the other managers and the workers join, and the harness waits until every node is READY.
/// Nodes are <see cref="SwarmNodeProcess"/>es the caller kills, stops, restarts, promotes and demotes. Disposing kills
/// every process and deletes the root.
/// </summary>
public sealed class LocalSwarm : IAsyncDisposable
{
    private readonly List<SwarmNodeProcess> _nodes = [];
    private readonly LocalSwarmOptions _options;
    private int _nextManager = 1;
    private int _nextWorker = 1;

    private LocalSwarm(string root, TimeSpan heartbeat, LocalSwarmOptions options)
    {
        Root = root;
        HeartbeatPeriod = heartbeat;
        _options = options;
    }

    /// <summary>The directory every node's data directory is in.</summary>
    public string Root { get; }

    /// <summary>The heartbeat period the swarm was founded with.</summary>
    public TimeSpan HeartbeatPeriod { get; }

    /// <summary>Every node started so far, in order (m1, m2, …, w1, w2, …, then added ones).</summary>
    public IReadOnlyList<SwarmNodeProcess> Nodes => _nodes;

    /// <summary>The nodes whose process runs.</summary>
    public IEnumerable<SwarmNodeProcess> Running => _nodes.Where(n => n.IsRunning);

    /// <summary>The worker join token.</summary>
    public string WorkerToken { get; private set; } = string.Empty;

    /// <summary>The manager join token.</summary>
    public string ManagerToken { get; private set; } = string.Empty;

    /// <summary>The node the harness named <paramref name="name"/>.</summary>
    public SwarmNodeProcess this[string name] => _nodes.FirstOrDefault(n => n.Name == name) ?? throw new KeyNotFoundException($"no node named {name}");

    /// <summary>
    /// Starts <paramref name="managers"/> managers (m1 founds the swarm with <paramref name="heartbeat"/>, the others
    /// join one by one) and <paramref name="workers"/> workers (joining together), and waits until the leader lists
    /// them all READY, every manager reachable, one leader.
    /// </summary>
    public static async Task<LocalSwarm> StartAsync(int managers, int workers, TimeSpan heartbeat, LocalSwarmOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(managers, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        options ??= new LocalSwarmOptions();
        var swarm = new LocalSwarm(options.Root ?? NewRoot(), heartbeat, options);
        try
        {
            var nodes = new List<SwarmNodeProcess>();
            for (var i = 0; i < managers; i++)
            {
                nodes.Add(swarm.Create(manager: true));
            }

            for (var i = 0; i < workers; i++)
            {
                nodes.Add(swarm.Create(manager: false));
            }

            // Processes start in parallel: most of a start is the runtime's own warm-up.
            await Task.WhenAll(nodes.Select(n => n.StartAsync(swarm._options.StartTimeout, cancellationToken)));

            var first = nodes[0];
            await first.Api.InitAsync(first.Address, first.Address, heartbeat, cancellationToken);
            await first.RefreshNodeIdAsync(cancellationToken);
            var tokens = (await first.Api.SwarmAsync(cancellationToken)).JoinTokens;
            swarm.WorkerToken = tokens.Worker;
            swarm.ManagerToken = tokens.Manager;

            // Managers one at a time: each one's Raft join must commit before the next (a group of two has no slack).
            foreach (var manager in nodes.Skip(1).Take(managers - 1))
            {
                await swarm.JoinAsync(manager, asManager: true, cancellationToken);
            }

            await Task.WhenAll(nodes.Skip(managers).Select(w => swarm.JoinAsync(w, asManager: false, cancellationToken)));
            await swarm.WaitForNodesAsync(
                list => list.Count == managers + workers
                    && list.All(n => n.Status.State == NodeStates.Ready)
                    && list.Count(n => n.ManagerStatus?.Leader == true) == 1
                    && list.Count(n => n.ManagerStatus?.Reachability == Reachabilities.Reachable) == managers,
                $"{managers + workers} nodes READY, {managers} reachable managers, one leader",
                swarm._options.StartTimeout,
                cancellationToken);
            return swarm;
        }
        catch
        {
            await swarm.DisposeAsync();
            throw;
        }
    }

    /// <summary>A new node process (started, outside the swarm), named m&lt;n&gt; or w&lt;n&gt;.</summary>
    public async Task<SwarmNodeProcess> AddNodeAsync(bool manager, CancellationToken cancellationToken = default)
    {
        var node = Create(manager);
        await node.StartAsync(_options.StartTimeout, cancellationToken);
        return node;
    }

    /// <summary>
    /// Makes <paramref name="node"/> join through the running managers (<c>POST /swarm/join</c> returns once the node
    /// holds its certificate and, for a manager, once it is a Raft member) and records its node ID.
    /// </summary>
    public async Task JoinAsync(SwarmNodeProcess node, bool asManager, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var remotes = await ManagerAddressesAsync(cancellationToken);
        await node.Api.JoinAsync(asManager ? ManagerToken : WorkerToken, remotes, node.Address, node.Address, cancellationToken);
        await node.RefreshNodeIdAsync(cancellationToken);
    }

    /// <summary>The running node with node ID <paramref name="nodeId"/>, if the harness knows it.</summary>
    public SwarmNodeProcess? ByNodeId(string nodeId) => _nodes.FirstOrDefault(n => n.NodeId == nodeId);

    /// <summary>
    /// The running node that says it leads: its own <c>GET /nodes</c> marks itself Leader. Other managers may still
    /// name a dead leader for a while; the leader's own word is what counts.
    /// </summary>
    public async Task<SwarmNodeProcess?> FindLeaderAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in Running.Where(n => n.NodeId is not null).ToList())
        {
            var nodes = await TryNodesAsync(node, cancellationToken);
            if (nodes?.FirstOrDefault(n => n.ID == node.NodeId)?.ManagerStatus?.Leader == true)
            {
                return node;
            }
        }

        return null;
    }

    /// <summary>Waits for a running node that says it leads (other than <paramref name="except"/>).</summary>
    public async Task<SwarmNodeProcess> WaitForLeaderAsync(TimeSpan timeout, SwarmNodeProcess? except = null, CancellationToken cancellationToken = default)
    {
        SwarmNodeProcess? leader = null;
        await WaitForAsync(
            async ct => (leader = await FindLeaderAsync(ct)) is not null && leader != except,
            except is null ? "a leader" : $"a leader other than {except}",
            timeout,
            cancellationToken: cancellationToken);
        return leader!;
    }

    /// <summary><c>GET /nodes</c> on the leader.</summary>
    public async Task<List<DockerNode>> NodesAsync(CancellationToken cancellationToken = default)
    {
        var leader = await WaitForLeaderAsync(TimeSpan.FromSeconds(30), cancellationToken: cancellationToken);
        return await leader.Api.NodesAsync(cancellationToken);
    }

    /// <summary>
    /// Waits until the leader's <c>GET /nodes</c> satisfies <paramref name="condition"/>; on a timeout the message
    /// has the last list seen.
    /// </summary>
    public async Task<List<DockerNode>> WaitForNodesAsync(Func<List<DockerNode>, bool> condition, string what, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        List<DockerNode> last = [];
        await WaitForAsync(
            async ct =>
            {
                var leader = await FindLeaderAsync(ct);
                if (leader is null || await TryNodesAsync(leader, ct) is not { } nodes)
                {
                    return false;
                }

                last = nodes;
                return condition(nodes);
            },
            what,
            timeout,
            detail: () => "last node list seen: " + Describe(last),
            cancellationToken: cancellationToken);
        return last;
    }

    /// <summary>Waits until the leader's <c>GET /nodes</c> shows <paramref name="node"/> in <paramref name="state"/>; returns that list.</summary>
    public Task<List<DockerNode>> WaitForNodeStateAsync(SwarmNodeProcess node, string state, string what, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        return WaitForNodesAsync(list => list.Single(n => n.ID == node.NodeId).Status.State == state, what, timeout, cancellationToken);
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every <paramref name="interval"/> (20 ms) until it holds; a timeout says what
    /// was awaited, <paramref name="detail"/>, and the nodes' last lines.
    /// </summary>
    public async Task WaitForAsync(Func<CancellationToken, Task<bool>> condition, string what, TimeSpan timeout, TimeSpan? interval = null, Func<string>? detail = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var pause = interval ?? TimeSpan.FromMilliseconds(20);
        var started = Stopwatch.GetTimestamp();
        while (!await condition(cancellationToken))
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}{(detail is null ? string.Empty : "; " + detail())}\n{Diagnostics(15)}");
            }

            await Task.Delay(pause, cancellationToken);
        }
    }

    /// <summary>The last <paramref name="linesPerNode"/> lines of every node, for a failure message.</summary>
    public string Diagnostics(int linesPerNode) =>
        string.Join('\n', _nodes.Select(n => $"--- {n} ({(n.IsRunning ? "running" : "not running")}) ---\n{n.Tail(linesPerNode)}"));

    /// <summary>One line per node: name, hostname, role, state, leader.</summary>
    public string Describe(IEnumerable<DockerNode> nodes) =>
        string.Join("; ", (nodes ?? []).Select(n =>
            $"{ByNodeId(n.ID)?.Name ?? n.Description.Hostname ?? n.ID} {n.Spec.Role} {n.Status.State}{(n.ManagerStatus?.Leader == true ? " leader" : string.Empty)}{(n.ManagerStatus is { } m ? " " + m.Reachability : string.Empty)}"));

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
        if (!_options.KeepRoot)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A directory for a new swarm, short enough for the unix sockets under it (107 bytes at most).</summary>
    public static string NewRoot()
    {
        var temp = Path.GetTempPath();
        var parent = temp.Length <= 60 ? temp : "/tmp";
        var root = Path.Combine(parent, "shoal-sw-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>A loopback TCP port free now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private SwarmNodeProcess Create(bool manager)
    {
        var name = manager ? $"m{_nextManager++}" : $"w{_nextWorker++}";
        NetnsHost? host = null;
        if (_options.Hosts is { } hosts)
        {
            host = _nodes.Count < hosts.Hosts.Count
                ? hosts[_nodes.Count]
                : throw new InvalidOperationException($"node {name} needs a network-namespace host, but the {hosts.Hosts.Count} hosts of {hosts.Bridge} are taken; create more hosts");
        }

        var node = new SwarmNodeProcess(name, Path.Combine(Root, name), FreePort(), _options.LogLevel, _options.Log, host);
        _nodes.Add(node);
        return node;
    }

    /// <summary>The cluster addresses of the running managers (the leader first), for a join.</summary>
    private async Task<List<string>> ManagerAddressesAsync(CancellationToken cancellationToken)
    {
        var addresses = new List<string>();
        foreach (var node in Running.Where(n => n.NodeId is not null))
        {
            try
            {
                var info = await node.Api.InfoAsync(cancellationToken);
                if (info.Swarm.ControlAvailable)
                {
                    addresses.Add(node.Address);
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
            }
        }

        if (await FindLeaderAsync(cancellationToken) is { } leader && addresses.Remove(leader.Address))
        {
            addresses.Insert(0, leader.Address);
        }

        return addresses.Count > 0 ? addresses : throw new InvalidOperationException("no running manager to join through");
    }

    private static async Task<List<DockerNode>?> TryNodesAsync(SwarmNodeProcess node, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            return await node.Api.NodesAsync(timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }
}

/// <summary>How a <see cref="LocalSwarm"/> runs its nodes.</summary>
public sealed record LocalSwarmOptions
{
    /// <summary>The directory for the nodes' data directories; null: a new one under the temp directory.</summary>
    public string? Root { get; init; }

    /// <summary>Keep <see cref="Root"/> after disposal (to read the nodes' data directories).</summary>
    public bool KeepRoot { get; init; }

    /// <summary>The nodes' <c>--log-level</c>; the harness parses their info lines (sessions), so keep it at info or below.</summary>
    public string LogLevel { get; init; } = "info";

    /// <summary>Receives every line of every node, prefixed with the node's name.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// Network-namespace hosts to run the nodes in: the n-th node created (m1, m2, …, w1, …, then added ones) runs in
    /// host n and listens on its address. Null (the default): every node on the host's loopback. The caller owns
    /// and disposes the hosts (after the swarm).
    /// </summary>
    public NetnsHosts? Hosts { get; init; }

    /// <summary>How long a node may take to serve its API, and the swarm to be READY.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
