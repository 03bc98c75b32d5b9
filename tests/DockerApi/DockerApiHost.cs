using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Shoal.Api;
using Shoal.DockerApi.Model;
using Shoal.Manager.Tests.ControlApi;

using Shoal.TestKit;

namespace Shoal.DockerApi.Tests;

/// <summary>
/// The Docker API under test: the real server on a unix socket, in front of the real control API on a real mutual-TLS
/// cluster port, with a fake at the node boundary; and an HttpClient that speaks over the socket.
/// </summary>
internal sealed class DockerApiHost : IAsyncDisposable
{
    private DockerApiHost(ControlPlane plane, FakeSwarmNode node, DockerApiServer server, HttpClient http, string directory)
    {
        Plane = plane;
        Node = node;
        Server = server;
        Http = http;
        Directory = directory;
    }

    public ControlPlane Plane { get; }

    public FakeSwarmNode Node { get; }

    public DockerApiServer Server { get; }

    public HttpClient Http { get; }

    public string Directory { get; }

    public string SocketPath => Server.SocketPath;

    public static async Task<DockerApiHost> StartAsync()
    {
        var plane = await ControlPlane.StartAsync();
        var node = new FakeSwarmNode
        {
            Info = new LocalNodeInfo
            {
                NodeId = plane.ManagerId,
                NodeAddr = "127.0.0.1",
                LocalNodeState = LocalNodeStates.Active,
                ControlAvailable = true,
                RemoteManagers = [new Peer { NodeID = plane.ManagerId, Addr = "127.0.0.1:4242" }],
                Hostname = "manager-1",
                NCPU = 2,
                MemTotal = 4L << 30,
                OperatingSystem = "Debian GNU/Linux 12 (bookworm)",
                KernelVersion = "6.1.0",
                Architecture = "x86_64",
                Version = "0.1.0",
            },
            Control = plane.Client,
        };
        // Unix socket paths are limited to 108 bytes: keep the directory short.
        var directory = Path.Combine(Path.GetTempPath(), "shoal-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var server = await DockerApiServer.StartAsync(Path.Combine(directory, "shoal.sock"), node);
        return new DockerApiHost(plane, node, server, Client(server.SocketPath), directory);
    }

    public static HttpClient Client(string socketPath) => UnixSocketHttp.Create(socketPath);

    public async Task<(int Status, T? Body)> GetAsync<T>(string path, CancellationToken cancellationToken)
        where T : class
    {
        using var response = await Http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var body = response.IsSuccessStatusCode ? JsonSerializer.Deserialize<T>(text, Json) : null;
        return ((int)response.StatusCode, body);
    }

    public async Task<T> GetOkAsync<T>(string path, CancellationToken cancellationToken)
        where T : class
    {
        using var response = await Http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: expected 2xx, got {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<T>(text, Json)!;
    }

    /// <summary>Sends a request and returns the status and the error message (or the raw body when there is none).</summary>
    public async Task<(int Status, string Message)> SendAsync(HttpMethod method, string path, string? json, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await Http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            return ((int)response.StatusCode, JsonSerializer.Deserialize(text, DockerJsonContext.Default.ErrorResponse)!.Message);
        }

        return ((int)response.StatusCode, text);
    }

    public Task<(int Status, string Message)> PostAsync<T>(string path, T body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, JsonSerializer.Serialize(body, type), cancellationToken);

    public static JsonSerializerOptions Json => DockerJsonContext.Default.Options;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        await Plane.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>The node boundary: its state as a test sets it, and the init/join/leave calls it received.</summary>
internal sealed class FakeSwarmNode : ISwarmNode
{
    public LocalNodeInfo Info { get; set; } = new();

    public Control.ControlClient? Control { get; set; }

    public List<string> Calls { get; } = [];

    public SwarmInitRequest? LastInit { get; private set; }

    public SwarmJoinRequest? LastJoin { get; private set; }

    public Task<string> InitAsync(SwarmInitRequest request, CancellationToken cancellationToken)
    {
        if (Info.LocalNodeState != LocalNodeStates.Inactive)
        {
            throw new DockerApiException(503, DockerApiException.AlreadyInSwarmMessage);
        }

        LastInit = request;
        Calls.Add("init");
        return Task.FromResult("newnode0000000000000000001");
    }

    public Task JoinAsync(SwarmJoinRequest request, CancellationToken cancellationToken)
    {
        if (Info.LocalNodeState != LocalNodeStates.Inactive)
        {
            throw new DockerApiException(503, DockerApiException.AlreadyInSwarmMessage);
        }

        if (!request.JoinToken.StartsWith("SWMTKN-1-", StringComparison.Ordinal))
        {
            throw DockerApiException.BadRequest("invalid join token");
        }

        LastJoin = request;
        Calls.Add("join");
        return Task.CompletedTask;
    }

    public Task LeaveAsync(bool force, CancellationToken cancellationToken)
    {
        if (Info.LocalNodeState == LocalNodeStates.Inactive)
        {
            throw new DockerApiException(503, DockerApiException.NotInSwarmMessage);
        }

        if (Info.ControlAvailable && !force)
        {
            throw new DockerApiException(503, DockerApiException.LeaveManagerMessage);
        }

        Calls.Add(force ? "leave --force" : "leave");
        return Task.CompletedTask;
    }
}
