using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Cli.LocalApi;

/// <summary>
/// A client of a node's local API: the Docker Engine API swarm subset (v1.50), JSON over HTTP/1.1 on the node's unix
/// socket. Each method sends the request the docker CLI's Go client sends for the same operation, on the same
/// versioned path; one instance serves one command over one kept-alive connection. Bodies go through the
/// source-generated <see cref="DockerJsonContext"/> only (no reflection: the CLI stays AOT-friendly).
/// </summary>
internal sealed class LocalApiClient : IDisposable
{
    /// <summary>The API version every path is prefixed with.</summary>
    public const string ApiVersion = "1.50";

    private const string UnixScheme = "unix://";
    private const string Hint = "is `shoal agent` running? set --host or SHOAL_HOST";

    private readonly HttpClient _http;

    /// <summary>A client of the node at <paramref name="host"/> (<c>unix:///path/to/shoal.sock</c>); nothing is
    /// dialled before the first request.</summary>
    /// <exception cref="CommandException">The host is not a unix socket address.</exception>
    public LocalApiClient(string host)
    {
        Host = host;
        SocketPath = SocketPathOf(host);
        UnixDomainSocketEndPoint endpoint;
        try
        {
            endpoint = new UnixDomainSocketEndPoint(SocketPath);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new CommandException($"invalid host {host}: a unix socket path has at most 107 bytes");
        }

        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = (_, cancellationToken) => ConnectAsync(endpoint, cancellationToken) })
        {
            BaseAddress = new Uri("http://localhost"),
            // A join waits for the node's certificate; Ctrl-C, not a timer, ends a slow command (as with docker).
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Shoal-Client", ApiVersion));
    }

    /// <summary>The host as the operator named it.</summary>
    public string Host { get; }

    /// <summary>The unix socket the host names.</summary>
    public string SocketPath { get; }

    /// <summary><c>GET /info</c>: the node's own state (its node ID, whether it is a manager) and host facts.</summary>
    public Task<Info> InfoAsync(CancellationToken cancellationToken) =>
        GetAsync("/info", DockerJsonContext.Default.Info, cancellationToken);

    /// <summary><c>GET /swarm</c>: the cluster, its spec and version, and the join tokens (managers only).</summary>
    public Task<Swarm> SwarmInspectAsync(CancellationToken cancellationToken) =>
        GetAsync("/swarm", DockerJsonContext.Default.Swarm, cancellationToken);

    /// <summary><c>POST /swarm/init</c>; returns the new node ID.</summary>
    public async Task<string> SwarmInitAsync(SwarmInitRequest request, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, "/swarm/init", Json(request, DockerJsonContext.Default.SwarmInitRequest), cancellationToken);
        return await ReadAsync(response, DockerJsonContext.Default.String, cancellationToken);
    }

    /// <summary><c>POST /swarm/join</c>.</summary>
    public Task SwarmJoinAsync(SwarmJoinRequest request, CancellationToken cancellationToken) =>
        SendAndForgetAsync(HttpMethod.Post, "/swarm/join", Json(request, DockerJsonContext.Default.SwarmJoinRequest), cancellationToken);

    /// <summary><c>POST /swarm/leave[?force=1]</c>.</summary>
    public Task SwarmLeaveAsync(bool force, CancellationToken cancellationToken) =>
        SendAndForgetAsync(HttpMethod.Post, force ? "/swarm/leave?force=1" : "/swarm/leave", null, cancellationToken);

    /// <summary>
    /// <c>POST /swarm/update</c> with the whole spec and every flag spelled out, as the Go client sends it:
    /// <c>?rotateManagerToken=…&amp;rotateManagerUnlockKey=…&amp;rotateWorkerToken=…&amp;version=N</c>.
    /// </summary>
    public Task SwarmUpdateAsync(ulong version, Spec spec, bool rotateWorkerToken, bool rotateManagerToken, CancellationToken cancellationToken)
    {
        var query = string.Create(
            CultureInfo.InvariantCulture,
            $"?rotateManagerToken={Bool(rotateManagerToken)}&rotateManagerUnlockKey=false&rotateWorkerToken={Bool(rotateWorkerToken)}&version={version}");
        return SendAndForgetAsync(HttpMethod.Post, "/swarm/update" + query, Json(spec, DockerJsonContext.Default.Spec), cancellationToken);
    }

    /// <summary><c>GET /nodes[?filters=…]</c>.</summary>
    public Task<List<DockerNode>> NodeListAsync(ListFilters filters, CancellationToken cancellationToken) =>
        GetAsync(filters.IsEmpty ? "/nodes" : "/nodes?filters=" + Uri.EscapeDataString(filters.ToJson()), DockerJsonContext.Default.ListNode, cancellationToken);

    /// <summary><c>GET /nodes/{reference}</c>: by ID, name, hostname or unique ID prefix.</summary>
    public Task<DockerNode> NodeInspectAsync(string reference, CancellationToken cancellationToken) =>
        GetAsync("/nodes/" + Uri.EscapeDataString(reference), DockerJsonContext.Default.Node, cancellationToken);

    /// <summary><c>POST /nodes/{id}/update?version=N</c> with the whole spec.</summary>
    public Task NodeUpdateAsync(string id, ulong version, NodeSpec spec, CancellationToken cancellationToken) =>
        SendAndForgetAsync(
            HttpMethod.Post,
            string.Create(CultureInfo.InvariantCulture, $"/nodes/{Uri.EscapeDataString(id)}/update?version={version}"),
            Json(spec, DockerJsonContext.Default.NodeSpec),
            cancellationToken);

    /// <summary><c>DELETE /nodes/{reference}[?force=1]</c>.</summary>
    public Task NodeRemoveAsync(string reference, bool force, CancellationToken cancellationToken) =>
        SendAndForgetAsync(HttpMethod.Delete, "/nodes/" + Uri.EscapeDataString(reference) + (force ? "?force=1" : string.Empty), null, cancellationToken);

    /// <summary><c>POST /services/create</c>: the new service's ID and the node's warnings.</summary>
    public async Task<ServiceCreateResponse> ServiceCreateAsync(ServiceSpec spec, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, "/services/create", Json(spec, DockerJsonContext.Default.ServiceSpec), cancellationToken);
        return await ReadAsync(response, DockerJsonContext.Default.ServiceCreateResponse, cancellationToken);
    }

    /// <summary><c>GET /services[?filters=…][&amp;status=true]</c>; with <paramref name="status"/> each service carries its task counts.</summary>
    public Task<List<Service>> ServiceListAsync(ListFilters filters, bool status, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (!filters.IsEmpty)
        {
            query.Add("filters=" + Uri.EscapeDataString(filters.ToJson()));
        }

        if (status)
        {
            query.Add("status=true");
        }

        return GetAsync(query.Count == 0 ? "/services" : "/services?" + string.Join('&', query), DockerJsonContext.Default.ListService, cancellationToken);
    }

    /// <summary>
    /// <c>GET /services/{reference}?insertDefaults=…</c>: by ID, name or unique ID prefix. Defaults are for display
    /// (<c>inspect</c>); a spec that goes back in an update is read without them.
    /// </summary>
    public Task<Service> ServiceInspectAsync(string reference, bool insertDefaults, CancellationToken cancellationToken) =>
        GetAsync($"/services/{Uri.EscapeDataString(reference)}?insertDefaults={Bool(insertDefaults)}", DockerJsonContext.Default.Service, cancellationToken);

    /// <summary>
    /// <c>POST /services/{id}/update?[registryAuthFrom=…&amp;][rollback=previous&amp;]version=N</c> with the whole spec
    /// (parameters in the Go client's order: sorted by name).
    /// </summary>
    public async Task<ServiceUpdateResponse> ServiceUpdateAsync(string id, ulong version, ServiceSpec spec, string? registryAuthFrom, bool rollback, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (registryAuthFrom is not null)
        {
            query.Add("registryAuthFrom=" + Uri.EscapeDataString(registryAuthFrom));
        }

        if (rollback)
        {
            query.Add("rollback=previous");
        }

        query.Add(string.Create(CultureInfo.InvariantCulture, $"version={version}"));
        using var response = await SendAsync(
            HttpMethod.Post,
            $"/services/{Uri.EscapeDataString(id)}/update?{string.Join('&', query)}",
            Json(spec, DockerJsonContext.Default.ServiceSpec),
            cancellationToken);
        return await ReadAsync(response, DockerJsonContext.Default.ServiceUpdateResponse, cancellationToken);
    }

    /// <summary><c>DELETE /services/{reference}</c>.</summary>
    public Task ServiceRemoveAsync(string reference, CancellationToken cancellationToken) =>
        SendAndForgetAsync(HttpMethod.Delete, "/services/" + Uri.EscapeDataString(reference), null, cancellationToken);

    /// <summary><c>GET /tasks[?filters=…]</c>.</summary>
    public Task<List<SwarmTask>> TaskListAsync(ListFilters filters, CancellationToken cancellationToken) =>
        GetAsync(filters.IsEmpty ? "/tasks" : "/tasks?filters=" + Uri.EscapeDataString(filters.ToJson()), DockerJsonContext.Default.ListSwarmTask, cancellationToken);

    /// <summary><c>GET /tasks/{reference}</c>: by ID or unique ID prefix.</summary>
    public Task<SwarmTask> TaskInspectAsync(string reference, CancellationToken cancellationToken) =>
        GetAsync("/tasks/" + Uri.EscapeDataString(reference), DockerJsonContext.Default.SwarmTask, cancellationToken);

    /// <summary>
    /// <c>GET /{services|tasks}/{reference}/logs?…</c>: the response, to be read as a stream (multiplexed frames, or raw
    /// bytes for a TTY service); <paramref name="query"/> is the query string without its <c>?</c>. The caller
    /// disposes the response.
    /// </summary>
    public Task<HttpResponseMessage> LogsAsync(string kind, string reference, string query, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"/{kind}/{Uri.EscapeDataString(reference)}/logs?{query}", null, cancellationToken);

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    /// <summary>The socket path of a <c>unix://</c> host.</summary>
    /// <exception cref="CommandException">Any other kind of host.</exception>
    public static string SocketPathOf(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!host.StartsWith(UnixScheme, StringComparison.Ordinal) || host.Length == UnixScheme.Length)
        {
            throw new CommandException($"invalid host \"{host}\": a Shoal node's local API is a unix socket, named unix:///path/to/shoal.sock");
        }

        return host[UnixScheme.Length..];
    }

    private async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        return await ReadAsync(response, type, cancellationToken);
    }

    private async Task SendAndForgetAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(method, path, content, cancellationToken);
    }

    /// <summary>Sends a request on the versioned path; answers outside 2xx become <see cref="LocalApiException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri("/v" + ApiVersion + path, UriKind.Relative)) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ErrorOfAsync(response, cancellationToken);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var request = response.RequestMessage;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            return await JsonSerializer.DeserializeAsync(body, type, cancellationToken)
                ?? throw new JsonException("the body is null");
        }
        catch (JsonException e)
        {
            throw new CommandException($"the node's answer to {request?.Method} {request?.RequestUri} is not the JSON expected: {e.Message}", e);
        }
    }

    /// <summary>The error a node answered: the message of its <c>{"message": …}</c> body, else the body's text.</summary>
    private static async Task<LocalApiException> ErrorOfAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var text = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
        string? message = null;
        if (text.StartsWith('{'))
        {
            try
            {
                message = JsonSerializer.Deserialize(text, DockerJsonContext.Default.ErrorResponse)?.Message;
            }
            catch (JsonException)
            {
                // Not Docker's error shape: the text itself says more than nothing.
            }
        }

        if (string.IsNullOrEmpty(message))
        {
            message = text.Length > 0 ? text : $"{status} {response.ReasonPhrase}";
        }

        return new LocalApiException(status, message);
    }

    /// <summary>Why the node could not be talked to, in the operator's terms.</summary>
    private CommandException Unreachable(HttpRequestException e)
    {
        if (e.HttpRequestError != HttpRequestError.ConnectionError)
        {
            return new CommandException($"lost the connection to the Shoal node at {Host}: {e.Message}", e);
        }

        var socketError = (e.InnerException as SocketException)?.SocketErrorCode;
        var reason = !File.Exists(SocketPath) ? $"no such socket ({Hint})"
            : socketError == SocketError.ConnectionRefused ? $"connection refused: nothing listens on the socket ({Hint})"
            : socketError == SocketError.AccessDenied ? "permission denied (the socket is read-write for its owner and group only: run as root or as a member of its group)"
            : $"{e.InnerException?.Message ?? e.Message} ({Hint})";
        return new CommandException($"cannot connect to the Shoal node at {Host}: {reason}", e);
    }

    private static async ValueTask<Stream> ConnectAsync(UnixDomainSocketEndPoint endpoint, CancellationToken cancellationToken)
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
    }

    private static ByteArrayContent Json<T>(T value, JsonTypeInfo<T> type)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static string Bool(bool value) => value ? "true" : "false";
}
