using System.Net;
using System.Runtime.CompilerServices;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shoal.Ca.Authorization;
using Shoal.Ca.Tls;

namespace Shoal.Ca;

/// <summary>
/// The cluster port: one Kestrel HTTP/2 listener, TLS only, serving gRPC services whose every method is authorized by
/// the roles its proto declares. There is no plaintext variant. A connection without a client certificate reaches the
/// bootstrap methods of the CA and nothing else.
/// </summary>
public sealed class ClusterPortServer : IAsyncDisposable
{
    /// <summary>Concurrent streams one connection may carry (relayed sessions share one connection).</summary>
    public const int MaxStreamsPerConnection = 1 << 20;

    private readonly WebApplication _app;
    private readonly StrongBox<long> _handshakes;
    private int _disposed;

    private ClusterPortServer(WebApplication app, MethodAuthorizationTable table, StrongBox<long> handshakes)
    {
        _app = app;
        Table = table;
        _handshakes = handshakes;
    }

    /// <summary>TLS handshakes started on the port (one per client connection); each one costs the manager CPU.</summary>
    public long TlsHandshakes => Interlocked.Read(ref _handshakes.Value);

    /// <summary>The authorization table the port enforces.</summary>
    public MethodAuthorizationTable Table { get; }

    /// <summary>The services of the running application (for the composition root and tests).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The address the port listens on, with the port the OS chose when 0 was asked.</summary>
    public Uri Address
    {
        get
        {
            var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return new Uri(addresses.First());
        }
    }

    /// <summary>host:port of <see cref="Address"/>.</summary>
    public string HostPort => $"{Address.Host}:{Address.Port}";

    /// <summary>
    /// Builds and starts the port on <paramref name="endpoint"/>. <paramref name="configure"/> registers the gRPC
    /// services: each one through <see cref="ClusterPortBuilder.MapService{TService}"/>, so that no method is served
    /// without being in the authorization table.
    /// </summary>
    public static async Task<ClusterPortServer> StartAsync(
        IPEndPoint endpoint,
        NodeSecurity security,
        IRemovedNodes removedNodes,
        Action<ClusterPortBuilder> configure,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        var port = new ClusterPortBuilder(builder.Services);
        configure(port);
        var table = MethodAuthorizationTable.FromServices(port.Descriptors);

        builder.Services.AddSingleton(security);
        builder.Services.AddSingleton(removedNodes);
        builder.Services.AddSingleton(table);
        if (port.LeaderRoute is not null)
        {
            builder.Services.AddSingleton(port.LeaderRoute);
        }

        var authenticator = new PeerAuthenticator(security, removedNodes, loggerFactory?.CreateLogger<PeerAuthenticator>());
        builder.Services.AddSingleton(authenticator);
        builder.Services.AddGrpc(options =>
        {
            options.Interceptors.Add<RoleAuthorizationInterceptor>();
            if (port.LeaderRoute is not null)
            {
                options.Interceptors.Add<Forwarding.LeaderForwardingInterceptor>();
            }

            options.EnableDetailedErrors = false;
        });
        var handshakes = new StrongBox<long>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // Followers relay all their nodes' sessions to the leader on one connection: two long-lived streams per
            // node. Kestrel's default of 100 streams per connection would cap that at 50 nodes.
            kestrel.Limits.Http2.MaxStreamsPerConnection = MaxStreamsPerConnection;
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ =>
                    {
                        Interlocked.Increment(ref handshakes.Value);
                        return ValueTask.FromResult(ClusterTls.ServerOptions(security, authenticator));
                    },
                    HandshakeTimeout = TimeSpan.FromSeconds(10),
                });
            });
        });

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // The gate: without a client certificate only bootstrap methods pass, whatever is mapped.
            if (context.Connection.ClientCertificate is null && !table.IsBootstrap(context.Request.Path.Value ?? string.Empty))
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = ((int)Grpc.Core.StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture);
                context.Response.Headers["grpc-message"] = "this method needs a client certificate from the swarm's CA";
                return;
            }

            await next(context).ConfigureAwait(false);
        });
        foreach (var map in port.Mappings)
        {
            map(app);
        }

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return new ClusterPortServer(app, table, handshakes);
    }

    /// <summary>Stops the listener, letting calls in flight finish for up to two seconds.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Long-lived streams (Raft, sessions) never finish by themselves: give calls a moment, then cut them.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(grace.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Registers the gRPC services of a cluster port with their descriptors (for the authorization table).</summary>
public sealed class ClusterPortBuilder
{
    private readonly List<ServiceDescriptor> _descriptors = [];
    private readonly List<Action<WebApplication>> _mappings = [];

    internal ClusterPortBuilder(IServiceCollection services) => Services = services;

    /// <summary>The port's services, for the dependencies of the gRPC services.</summary>
    public IServiceCollection Services { get; }

    internal IReadOnlyList<ServiceDescriptor> Descriptors => _descriptors;

    internal IReadOnlyList<Action<WebApplication>> Mappings => _mappings;

    internal Forwarding.ILeaderRoute? LeaderRoute { get; private set; }

    /// <summary>
    /// Relays calls to methods marked <c>forward_to_leader</c> as <paramref name="route"/> says (without a route
    /// they are served here).
    /// </summary>
    public ClusterPortBuilder UseLeaderRoute(Forwarding.ILeaderRoute route)
    {
        LeaderRoute = route;
        return this;
    }

    /// <summary>Serves <typeparamref name="TService"/>, whose methods <paramref name="descriptor"/> describes.</summary>
    public ClusterPortBuilder MapService<TService>(ServiceDescriptor descriptor)
        where TService : class
    {
        _descriptors.Add(descriptor);
        _mappings.Add(app => app.MapGrpcService<TService>());
        return this;
    }
}
