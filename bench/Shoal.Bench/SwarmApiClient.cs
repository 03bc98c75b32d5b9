using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Bench;

/// <summary>
/// A client of one node's local API (the Docker Engine API swarm subset, HTTP/1.1 on the node's unix socket), with the
/// calls the harness needs. Errors come back as <see cref="SwarmApiException"/> with the HTTP status and the node's
/// message; a node that does not answer gives <see cref="HttpRequestException"/>, <see cref="IOException"/> or a
/// cancellation after <see cref="RequestTimeout"/>.
/// </summary>
public sealed class SwarmApiClient : IDisposable
{
    private const string Prefix = "/v1.50";

    private readonly HttpClient _http;

    /// <summary>A client of the API on <paramref name="socketPath"/>; nothing is dialled before the first call.</summary>
    public SwarmApiClient(string socketPath, TimeSpan? requestTimeout = null)
    {
        SocketPath = socketPath;
        RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30);
        var endpoint = new UnixDomainSocketEndPoint(socketPath);
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endpoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            // A restarted node listens on a new socket: never keep a connection to the old process for long.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
        })
        {
            BaseAddress = new Uri("http://shoal"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>The node's socket.</summary>
    public string SocketPath { get; }

    /// <summary>How long one call may take before it is cancelled (a join waits for the node's certificate).</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary><c>GET /_ping</c>: whether the API answers at all.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = Linked(TimeSpan.FromSeconds(2), cancellationToken);
            using var response = await _http.GetAsync(new Uri("/_ping", UriKind.Relative), timeout.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary><c>POST /swarm/init</c> with a heartbeat period; returns the new swarm's first node ID.</summary>
    public Task<string> InitAsync(string listenAddress, string advertiseAddress, TimeSpan heartbeat, CancellationToken cancellationToken = default) =>
        InitAsync(
            new SwarmInitRequest
            {
                ListenAddr = listenAddress,
                AdvertiseAddr = advertiseAddress,
                Spec = new Spec { Dispatcher = new DispatcherConfig { HeartbeatPeriod = (long)(heartbeat.TotalMilliseconds * 1_000_000) } },
            },
            cancellationToken);

    /// <summary><c>POST /swarm/init</c>; returns the new swarm's first node ID.</summary>
    public async Task<string> InitAsync(SwarmInitRequest request, CancellationToken cancellationToken = default)
    {
        var text = await SendAsync(HttpMethod.Post, "/swarm/init", Serialize(request, DockerJsonContext.Default.SwarmInitRequest), cancellationToken);
        return JsonSerializer.Deserialize(text, DockerJsonContext.Default.String) ?? throw new SwarmApiException(200, $"swarm init answered no node ID: {text}");
    }

    /// <summary><c>GET /swarm</c> (managers only): the cluster and its join tokens.</summary>
    public Task<Swarm> SwarmAsync(CancellationToken cancellationToken = default) => GetAsync("/swarm", DockerJsonContext.Default.Swarm, cancellationToken);

    /// <summary><c>POST /swarm/join</c> through <paramref name="remote"/>; the node listens on <paramref name="listenAddress"/> if it is (or becomes) a manager.</summary>
    public Task JoinAsync(string token, string remote, string? listenAddress = null, string? advertiseAddress = null, CancellationToken cancellationToken = default) =>
        JoinAsync(token, [remote], listenAddress, advertiseAddress, cancellationToken);

    /// <summary><c>POST /swarm/join</c> through the first of <paramref name="remotes"/> that answers.</summary>
    public async Task JoinAsync(string token, IReadOnlyList<string> remotes, string? listenAddress = null, string? advertiseAddress = null, CancellationToken cancellationToken = default)
    {
        var request = new SwarmJoinRequest { JoinToken = token, RemoteAddrs = [.. remotes], ListenAddr = listenAddress, AdvertiseAddr = advertiseAddress };
        await SendAsync(HttpMethod.Post, "/swarm/join", Serialize(request, DockerJsonContext.Default.SwarmJoinRequest), cancellationToken);
    }

    /// <summary><c>GET /nodes</c> (managers only).</summary>
    public Task<List<DockerNode>> NodesAsync(CancellationToken cancellationToken = default) => GetAsync("/nodes", DockerJsonContext.Default.ListNode, cancellationToken);

    /// <summary><c>GET /nodes/{id}</c> (managers only).</summary>
    public Task<DockerNode> NodeAsync(string id, CancellationToken cancellationToken = default) =>
        GetAsync("/nodes/" + Uri.EscapeDataString(id), DockerJsonContext.Default.Node, cancellationToken);

    /// <summary><c>GET /info</c>: the node's own view (its ID, whether it is a manager).</summary>
    public Task<Info> InfoAsync(CancellationToken cancellationToken = default) => GetAsync("/info", DockerJsonContext.Default.Info, cancellationToken);

    /// <summary><c>POST /nodes/{id}/update?version=N</c> with the whole spec.</summary>
    public async Task UpdateNodeAsync(string id, ulong version, NodeSpec spec, CancellationToken cancellationToken = default)
    {
        var path = $"/nodes/{Uri.EscapeDataString(id)}/update?version={version.ToString(CultureInfo.InvariantCulture)}";
        await SendAsync(HttpMethod.Post, path, Serialize(spec, DockerJsonContext.Default.NodeSpec), cancellationToken);
    }

    /// <summary>
    /// Reads node <paramref name="id"/> and updates it with <paramref name="change"/> applied to its spec, again when
    /// the version moved in between (the dispatcher's status writes move it too).
    /// </summary>
    public async Task UpdateNodeAsync(string id, Action<NodeSpec> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var node = await NodeAsync(id, cancellationToken);
            change(node.Spec);
            try
            {
                await UpdateNodeAsync(id, node.Version.Index, node.Spec, cancellationToken);
                return;
            }
            catch (SwarmApiException e) when (attempt < 10 && e.Message.Contains("out of sequence", StringComparison.Ordinal))
            {
            }
        }
    }

    /// <summary>Sets node <paramref name="id"/>'s desired role (<see cref="NodeRoles"/>): a promotion or a demotion.</summary>
    public Task SetRoleAsync(string id, string role, CancellationToken cancellationToken = default) =>
        UpdateNodeAsync(id, spec => spec.Role = role, cancellationToken);

    /// <summary><c>DELETE /nodes/{id}</c>.</summary>
    public async Task RemoveNodeAsync(string id, bool force = false, CancellationToken cancellationToken = default) =>
        await SendAsync(HttpMethod.Delete, $"/nodes/{Uri.EscapeDataString(id)}{(force ? "?force=true" : string.Empty)}", null, cancellationToken);

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    private static string Serialize<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    private async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var text = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        return JsonSerializer.Deserialize(text, type) ?? throw new SwarmApiException(200, $"GET {path} answered null");
    }

    private async Task<string> SendAsync(HttpMethod method, string path, string? json, CancellationToken cancellationToken)
    {
        using var timeout = Linked(RequestTimeout, cancellationToken);
        using var request = new HttpRequestMessage(method, new Uri(Prefix + path, UriKind.Relative));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request, timeout.Token);
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        if (response.IsSuccessStatusCode)
        {
            return text;
        }

        string message;
        try
        {
            message = JsonSerializer.Deserialize(text, DockerJsonContext.Default.ErrorResponse)?.Message ?? text;
        }
        catch (JsonException)
        {
            message = text;
        }

        throw new SwarmApiException((int)response.StatusCode, message, $"{method} {path}");
    }

    private static CancellationTokenSource Linked(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(timeout);
        return source;
    }
}

/// <summary>The local API refused a call: its HTTP status and the node's message (what the docker CLI prints).</summary>
public sealed class SwarmApiException : Exception
{
    public SwarmApiException(int status, string message, string? request = null)
        : base(message)
    {
        Status = status;
        Request = request;
    }

    public SwarmApiException()
    {
    }

    public SwarmApiException(string message)
        : base(message)
    {
    }

    public SwarmApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The HTTP status.</summary>
    public int Status { get; }

    /// <summary>The request refused, e.g. <c>POST /nodes/x/update</c>.</summary>
    public string? Request { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Request}: {Status} {Message}";
}
