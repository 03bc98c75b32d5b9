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

    /// <summary><c>POST /services/create</c>; returns the new service's ID.</summary>
    public async Task<string> CreateServiceAsync(ServiceSpec spec, CancellationToken cancellationToken = default)
    {
        var text = await SendAsync(HttpMethod.Post, "/services/create", Serialize(spec, DockerJsonContext.Default.ServiceSpec), cancellationToken);
        var created = JsonSerializer.Deserialize(text, DockerJsonContext.Default.ServiceCreateResponse);
        return created is { ID.Length: > 0 } ? created.ID : throw new SwarmApiException(201, $"service create answered no ID: {text}", "POST /services/create");
    }

    /// <summary><c>GET /services/{id}?insertDefaults=false</c>: the service as stored (by ID, name or unique ID prefix).</summary>
    public Task<Service> ServiceAsync(string id, CancellationToken cancellationToken = default) =>
        GetAsync($"/services/{Uri.EscapeDataString(id)}?insertDefaults=false", DockerJsonContext.Default.Service, cancellationToken);

    /// <summary><c>GET /services?status=true</c>: every service with its task counts.</summary>
    public Task<List<Service>> ServicesAsync(CancellationToken cancellationToken = default) =>
        GetAsync("/services?status=true", DockerJsonContext.Default.ListService, cancellationToken);

    /// <summary><c>POST /services/{id}/update?version=N</c> with the whole spec.</summary>
    public async Task UpdateServiceAsync(string id, ulong version, ServiceSpec spec, CancellationToken cancellationToken = default)
    {
        var path = $"/services/{Uri.EscapeDataString(id)}/update?version={version.ToString(CultureInfo.InvariantCulture)}";
        await SendAsync(HttpMethod.Post, path, Serialize(spec, DockerJsonContext.Default.ServiceSpec), cancellationToken);
    }

    /// <summary>
    /// Reads service <paramref name="id"/> and updates it with <paramref name="change"/> applied to its spec, again
    /// when the version moved in between.
    /// </summary>
    public async Task UpdateServiceAsync(string id, Action<ServiceSpec> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var service = await ServiceAsync(id, cancellationToken);
            change(service.Spec);
            try
            {
                await UpdateServiceAsync(service.ID, service.Version.Index, service.Spec, cancellationToken);
                return;
            }
            catch (SwarmApiException e) when (attempt < 10 && e.Message.Contains("out of sequence", StringComparison.Ordinal))
            {
            }
        }
    }

    /// <summary>Sets a replicated service's replica count (what <c>docker service scale</c> sends).</summary>
    public Task ScaleServiceAsync(string id, ulong replicas, CancellationToken cancellationToken = default) =>
        UpdateServiceAsync(id, spec => spec.Mode.Replicated = new ReplicatedService { Replicas = replicas }, cancellationToken);

    /// <summary><c>DELETE /services/{id}</c>.</summary>
    public async Task RemoveServiceAsync(string id, CancellationToken cancellationToken = default) =>
        await SendAsync(HttpMethod.Delete, "/services/" + Uri.EscapeDataString(id), null, cancellationToken);

    /// <summary>
    /// <c>GET /tasks</c>, filtered by service (ID or name) and desired state (<see cref="TaskStates"/>) when given,
    /// e.g. <c>filters={"service":{"&lt;id&gt;":true},"desired-state":{"running":true}}</c>.
    /// </summary>
    public Task<List<SwarmTask>> TasksAsync(string? service = null, string? desiredState = null, CancellationToken cancellationToken = default)
    {
        var filters = new List<(string, string)>();
        if (service is not null)
        {
            filters.Add(("service", service));
        }

        if (desiredState is not null)
        {
            filters.Add(("desired-state", desiredState));
        }

        var query = filters.Count == 0 ? string.Empty : "?filters=" + Uri.EscapeDataString(Filters(filters));
        return GetAsync("/tasks" + query, DockerJsonContext.Default.ListSwarmTask, cancellationToken);
    }

    /// <summary><c>GET /tasks/{id}</c>.</summary>
    public Task<SwarmTask> TaskAsync(string id, CancellationToken cancellationToken = default) =>
        GetAsync("/tasks/" + Uri.EscapeDataString(id), DockerJsonContext.Default.SwarmTask, cancellationToken);

    /// <summary>
    /// <c>GET /services/{id}/logs?stdout=1&amp;stderr=1&amp;details=1</c> without follow: every line the service's tasks
    /// wrote so far, taken out of Docker's multiplexed framing (8-byte header: stream, 3 zero bytes, big-endian
    /// length), each with the details (<c>com.docker.swarm.node.id=…,…</c>) the CLI labels it with.
    /// </summary>
    public async Task<List<ServiceLogLine>> ServiceLogsAsync(string id, CancellationToken cancellationToken = default)
    {
        var path = $"/services/{Uri.EscapeDataString(id)}/logs?stdout=1&stderr=1&details=1";
        using var timeout = Linked(RequestTimeout, cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Prefix + path, UriKind.Relative));
        using var response = await _http.SendAsync(request, timeout.Token);
        var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            var text = Encoding.UTF8.GetString(body);
            string message;
            try
            {
                message = JsonSerializer.Deserialize(text, DockerJsonContext.Default.ErrorResponse)?.Message ?? text;
            }
            catch (JsonException)
            {
                message = text;
            }

            throw new SwarmApiException((int)response.StatusCode, message, $"GET {path}");
        }

        var lines = new List<ServiceLogLine>();
        if (response.Content.Headers.ContentType?.MediaType == "application/vnd.docker.raw-stream")
        {
            AddLines(lines, 1, body);
            return lines;
        }

        for (var offset = 0; offset < body.Length;)
        {
            if (body.Length - offset < 8)
            {
                throw new SwarmApiException((int)response.StatusCode, $"the log stream ends in a truncated frame header at byte {offset} of {body.Length}", $"GET {path}");
            }

            var stream = body[offset];
            var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(offset + 4, 4));
            if (stream is not (0 or 1 or 2) || length > body.Length - offset - 8)
            {
                throw new SwarmApiException((int)response.StatusCode, $"the log stream has a bad frame at byte {offset} (stream {stream}, length {length}, {body.Length - offset - 8} bytes left)", $"GET {path}");
            }

            AddLines(lines, stream, body.AsSpan(offset + 8, length));
            offset += 8 + length;
        }

        return lines;
    }

    /// <summary>Docker's filters argument: <c>{"key":{"value":true},…}</c>.</summary>
    private static string Filters(IEnumerable<(string Key, string Value)> filters)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var group in filters.GroupBy(f => f.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject(group.Key);
                foreach (var (_, value) in group)
                {
                    writer.WriteBoolean(value, true);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void AddLines(List<ServiceLogLine> lines, int stream, ReadOnlySpan<byte> payload)
    {
        foreach (var line in Encoding.UTF8.GetString(payload).Split('\n'))
        {
            if (line.Length > 0)
            {
                lines.Add(new ServiceLogLine(stream, line));
            }
        }
    }

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

/// <summary>
/// One line of a service's or task's logs: the stream (1 stdout, 2 stderr) and the text, which with
/// <c>details=1</c> starts with the comma-separated, URL-encoded <c>key=value</c> labels and a space.
/// </summary>
public sealed record ServiceLogLine(int Stream, string Text)
{
    /// <summary>The labels in front of the message (<c>com.docker.swarm.node.id</c>, <c>…service.id</c>, <c>…task.id</c>).</summary>
    public IReadOnlyDictionary<string, string> Details
    {
        get
        {
            var space = Text.IndexOf(' ', StringComparison.Ordinal);
            var details = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in (space < 0 ? Text : Text[..space]).Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    details[Uri.UnescapeDataString(pair[..equals])] = Uri.UnescapeDataString(pair[(equals + 1)..]);
                }
            }

            return details;
        }
    }

    /// <summary>The line without its details.</summary>
    public string Message => Text.IndexOf(' ', StringComparison.Ordinal) is var space and >= 0 ? Text[(space + 1)..] : string.Empty;
}
