using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Shoal.Agent.Executors;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Node.Tests;

/// <summary>
/// Nodes as <c>shoal agent</c> builds them, in this process: each with its own data directory, local API socket and
/// loopback cluster port, talked to only through its local API (real Kestrel on a unix socket, real gRPC over mutual
/// TLS between the nodes, real Raft on disk). With <paramref name="executor"/> the nodes run their tasks in that
/// runtime (<see cref="NodeOptions.Executor"/>, given the node's data directory) instead of host processes.
/// </summary>
internal sealed class NodeFixture(Func<string, IExecutor>? executor = null) : IAsyncDisposable
{
    private readonly string _root = Path.Combine("/tmp", "shoal-nt-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<TestNode> _nodes = [];

    public IReadOnlyList<TestNode> Nodes => _nodes;

    public static JsonSerializerOptions Json => DockerJsonContext.Default.Options;

    /// <summary>Starts a node outside any swarm; it keeps its port across restarts.</summary>
    public async Task<TestNode> StartNodeAsync(string name)
    {
        var node = new TestNode(name, Path.Combine(_root, name), FreePort(), executor);
        await node.StartAsync();
        _nodes.Add(node);
        return node;
    }

    /// <summary>A swarm of <paramref name="managers"/> managers (the first founds it) and <paramref name="workers"/> workers, all READY.</summary>
    /// <param name="taskHistory">The cluster's task history retention limit; null: the default.</param>
    public async Task<(List<TestNode> Managers, List<TestNode> Workers)> StartSwarmAsync(int managers, int workers, TimeSpan? heartbeat = null, long? taskHistory = null)
    {
        var first = await StartNodeAsync("m1");
        await first.InitAsync(heartbeat, taskHistory);
        var all = new List<TestNode> { first };
        for (var i = 2; i <= managers; i++)
        {
            var manager = await StartNodeAsync($"m{i}");
            await manager.JoinAsync(await first.JoinTokenAsync(manager: true), first);
            all.Add(manager);
        }

        for (var i = 1; i <= workers; i++)
        {
            var worker = await StartNodeAsync($"w{i}");
            await worker.JoinAsync(await first.JoinTokenAsync(manager: false), first);
            all.Add(worker);
        }

        await WaitAsync(first, nodes => nodes.Count == managers + workers && nodes.All(n => n.Status.State == NodeStates.Ready), $"{managers + workers} nodes READY");
        return (all[..managers], all[managers..]);
    }

    /// <summary>Waits until <paramref name="through"/>'s <c>GET /nodes</c> satisfies <paramref name="condition"/>.</summary>
    public static async Task<List<DockerApi.Model.Node>> WaitAsync(TestNode through, Func<List<DockerApi.Model.Node>, bool> condition, string expectation, TimeSpan? timeout = null)
    {
        List<DockerApi.Model.Node> last = [];
        try
        {
            await Eventually.TrueAsync(
                () =>
                {
                    try
                    {
                        last = through.NodesAsync().GetAwaiter().GetResult();
                        return condition(last);
                    }
                    catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException)
                    {
                        return false;
                    }
                },
                expectation,
                timeout ?? TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; last seen through {through.Name}: {Describe(last)}", e);
        }

        return last;
    }

    public static string Describe(IEnumerable<DockerApi.Model.Node> nodes) =>
        string.Join(", ", nodes.Select(n => $"{n.Description.Hostname}({n.Spec.Role},{n.Status.State}{(n.ManagerStatus?.Leader == true ? ",leader" : string.Empty)})"));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One node of the fixture and a client of its local API.</summary>
internal sealed class TestNode(string name, string dataDirectory, int port, Func<string, IExecutor>? executor = null) : IAsyncDisposable
{
    private HttpClient? _http;

    public string Name { get; } = name;

    public string DataDirectory { get; } = dataDirectory;

    public string Address { get; } = $"127.0.0.1:{port}";

    public ShoalNode? Node { get; private set; }

    public ShoalNode Running => Node ?? throw new InvalidOperationException($"{Name} is stopped");

    public HttpClient Http => _http ?? throw new InvalidOperationException($"{Name} is stopped");

    public async Task StartAsync()
    {
        Node = await ShoalNode.StartAsync(new NodeOptions
        {
            DataDirectory = DataDirectory,
            ListenAddress = Address,
            Hostname = Name,
            RaftTickInterval = TimeSpan.FromMilliseconds(50),
            LoggerFactory = TestLog.Factory,
            Executor = executor,
        });
        _http = Client(Node.ApiSocketPath);
    }

    /// <summary>Stops the node as SIGTERM does (its data directory stays).</summary>
    public async Task StopAsync()
    {
        _http?.Dispose();
        _http = null;
        if (Node is not null)
        {
            await Node.DisposeAsync();
            Node = null;
        }
    }

    /// <summary>Founds a swarm; <paramref name="heartbeat"/> and <paramref name="taskHistory"/> set the cluster spec (null: defaults).</summary>
    public async Task InitAsync(TimeSpan? heartbeat = null, long? taskHistory = null)
    {
        var parts = new List<string>();
        if (heartbeat is { } period)
        {
            parts.Add($"\"Dispatcher\":{{\"HeartbeatPeriod\":{(long)(period.TotalMilliseconds * 1_000_000)}}}");
        }

        if (taskHistory is { } limit)
        {
            parts.Add($"\"Orchestration\":{{\"TaskHistoryRetentionLimit\":{limit}}}");
        }

        var spec = parts.Count == 0 ? string.Empty : $",\"Spec\":{{{string.Join(',', parts)}}}";
        await OkAsync(HttpMethod.Post, "/v1.50/swarm/init", $"{{\"ListenAddr\":\"{Address}\",\"AdvertiseAddr\":\"{Address}\"{spec}}}");
    }

    public Task JoinAsync(string token, TestNode through) =>
        OkAsync(HttpMethod.Post, "/v1.50/swarm/join", $"{{\"ListenAddr\":\"{Address}\",\"RemoteAddrs\":[\"{through.Address}\"],\"JoinToken\":\"{token}\"}}");

    public async Task<string> JoinTokenAsync(bool manager)
    {
        var swarm = JsonSerializer.Deserialize(await OkAsync(HttpMethod.Get, "/v1.50/swarm"), DockerJsonContext.Default.Swarm)!;
        return manager ? swarm.JoinTokens.Manager : swarm.JoinTokens.Worker;
    }

    public async Task<List<DockerApi.Model.Node>> NodesAsync() =>
        JsonSerializer.Deserialize(await OkAsync(HttpMethod.Get, "/v1.50/nodes"), DockerJsonContext.Default.ListNode)!;

    public async Task<Info> InfoAsync() => JsonSerializer.Deserialize(await OkAsync(HttpMethod.Get, "/v1.50/info"), DockerJsonContext.Default.Info)!;

    /// <summary>Sets the role (and keeps the rest of the spec) of <paramref name="nodeId"/>; returns the status and message.</summary>
    public async Task<(int Status, string Body)> SetRoleAsync(string nodeId, string role)
    {
        var node = JsonSerializer.Deserialize(await OkAsync(HttpMethod.Get, $"/v1.50/nodes/{nodeId}"), DockerJsonContext.Default.Node)!;
        node.Spec.Role = role;
        return await SendAsync(HttpMethod.Post, $"/v1.50/nodes/{nodeId}/update?version={node.Version.Index}", JsonSerializer.Serialize(node.Spec, DockerJsonContext.Default.NodeSpec));
    }

    public async Task<string> OkAsync(HttpMethod method, string path, string? json = null)
    {
        var (status, body) = await SendAsync(method, path, json);
        return status is >= 200 and < 300 ? body : throw new InvalidOperationException($"{Name}: {method} {path} answered {status}: {body}");
    }

    /// <summary>Sends a request; returns the status and the body (the error message for an error).</summary>
    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode && text.StartsWith('{'))
        {
            text = JsonSerializer.Deserialize(text, DockerJsonContext.Default.ErrorResponse)?.Message ?? text;
        }

        return ((int)response.StatusCode, text);
    }

    private static HttpClient Client(string socketPath) => UnixSocketHttp.Create(socketPath, TimeSpan.FromSeconds(90));

    public ValueTask DisposeAsync() => new(StopAsync());
}
