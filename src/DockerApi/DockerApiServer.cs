using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.DockerApi.Model;

namespace Shoal.DockerApi;

/// <summary>
/// The local Docker Engine API (DESIGN §2, §10): HTTP/1.1 on a unix socket (mode 0660), versioned <c>/v1.xx/…</c>
/// and unversioned paths, Docker's headers on every answer and <c>{"message": …}</c> errors.
/// </summary>
public sealed partial class DockerApiServer : IAsyncDisposable
{
    /// <summary>The API version served (and the highest accepted).</summary>
    public const string ApiVersion = "1.50";

    /// <summary>The lowest API version accepted.</summary>
    public const string MinApiVersion = "1.24";

    private static readonly Version Maximum = Version.Parse(ApiVersion);
    private static readonly Version Minimum = Version.Parse(MinApiVersion);

    private const string RequestedVersionKey = "Shoal.DockerApi.RequestedVersion";

    private readonly WebApplication _app;

    private DockerApiServer(WebApplication app, string socketPath)
    {
        _app = app;
        SocketPath = socketPath;
    }

    /// <summary>The socket the server listens on.</summary>
    public string SocketPath { get; }

    /// <summary>
    /// Starts listening on <paramref name="socketPath"/>. A socket file left by a process that died is removed first;
    /// one that a live process answers on is not, and the start fails.
    /// </summary>
    public static async Task<DockerApiServer> StartAsync(string socketPath, ISwarmNode node, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        ArgumentNullException.ThrowIfNull(node);
        RemoveStaleSocket(socketPath);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenUnixSocket(socketPath, listen => listen.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<DockerApiServer>();
        var endpoints = new DockerEndpoints(node, logger);
        app.Use((context, next) => HandleAsync(context, next, node, logger));
        app.UseRouting();
        endpoints.Map(app);
        app.MapFallback(context => throw new DockerApiException(404, "page not found"));

        await app.StartAsync(cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            // Kestrel creates the socket under the umask (owner-only to connect); open it to the group, as Docker's.
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        }
        LogListening(logger, socketPath);
        return new DockerApiServer(app, socketPath);
    }

    /// <summary>Stops listening (calls in flight get two seconds) and removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(grace.Token);
        await _app.DisposeAsync();
        File.Delete(SocketPath);
    }

    /// <summary>Docker's headers, the version prefix, and errors as <c>{"message": …}</c>.</summary>
    private static async Task HandleAsync(HttpContext context, RequestDelegate next, ISwarmNode node, ILogger logger)
    {
        var headers = context.Response.Headers;
        headers["Api-Version"] = ApiVersion;
        headers["Ostype"] = "linux";
        headers["Docker-Experimental"] = "false";
        headers.Server = $"Docker/{node.Info.Version} (linux)";
        try
        {
            StripVersion(context);
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            var error = e switch
            {
                DockerApiException docker => docker,
                Grpc.Core.RpcException rpc => DockerErrors.FromRpc(rpc),
                Microsoft.AspNetCore.Http.BadHttpRequestException bad => new DockerApiException(bad.StatusCode, bad.Message),
                _ => null,
            };
            if (error is null)
            {
                LogUnexpected(logger, e, context.Request.Method, context.Request.Path.Value ?? string.Empty);
                error = new DockerApiException(500, e.Message);
            }

            context.Response.StatusCode = error.StatusCode;
            context.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(context.Response.Body, new ErrorResponse { Message = error.Message }, DockerJsonContext.Default.ErrorResponse, context.RequestAborted);
        }
    }

    /// <summary>Serves <c>/v1.xx/path</c> as <c>/path</c>, refusing versions outside what this server speaks.</summary>
    private static void StripVersion(HttpContext context)
    {
        var path = context.Request.Path.Value ?? string.Empty;
        if (path.Length < 3 || path[1] != 'v' || !char.IsAsciiDigit(path[2]))
        {
            return;
        }

        var slash = path.IndexOf('/', 1);
        var text = slash < 0 ? path[2..] : path[2..slash];
        if (!Version.TryParse(text, out var requested) || requested.Build >= 0)
        {
            return;
        }

        if (requested > Maximum)
        {
            throw DockerApiException.BadRequest($"client version {text} is too new. Maximum supported API version is {ApiVersion}");
        }

        if (requested < Minimum)
        {
            throw DockerApiException.BadRequest($"client version {text} is too old. Minimum supported API version is {MinApiVersion}, please upgrade your client to a newer version");
        }

        context.Items[RequestedVersionKey] = requested;
        context.Request.Path = slash < 0 ? "/" : path[slash..];
    }

    /// <summary>
    /// The API version the client asked for in the path (<c>/v1.44/…</c>); unversioned requests speak the current one.
    /// Some answers depend on it, as in moby (the media type of log streams).
    /// </summary>
    internal static Version RequestedVersion(HttpContext context) =>
        context.Items.TryGetValue(RequestedVersionKey, out var version) && version is Version requested ? requested : Maximum;

    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path);
            return;
        }

        throw new IOException($"{path} is in use by a running process: is another Shoal or Docker daemon listening there?");
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Docker API listening on unix://{Socket}")]
    private static partial void LogListening(ILogger logger, string socket);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Error, Message = "Docker API request {Method} {Path} failed")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method, string path);
}
