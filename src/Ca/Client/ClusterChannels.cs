using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Shoal.Ca.Tls;

namespace Shoal.Ca.Client;

/// <summary>
/// gRPC channels to managers' cluster ports. Every channel is TLS: with the node's certificate (picked at each new
/// connection, so renewals need no new channel) and accepting only managers of our swarm.
/// </summary>
public static class ClusterChannels
{
    /// <summary>The largest message either side accepts (Raft snapshots are chunked below it).</summary>
    public const int MaxMessageSize = 16 * 1024 * 1024;

    /// <summary>A mutually authenticated channel to the manager at <paramref name="hostPort"/>.</summary>
    public static GrpcChannel Create(string hostPort, NodeSecurity security) =>
        Create(hostPort, ClusterTls.ClientOptions(security, () => security.Current.RootCa, security.ClusterId, security.TimeProvider));

    /// <summary>
    /// A channel without a client certificate, for a node that is joining: with <paramref name="pinnedRootCa"/> it
    /// accepts only a manager certified by that root; without it, any server (only to fetch the root CA certificate,
    /// whose digest the caller then checks against its token).
    /// </summary>
    public static GrpcChannel CreateBootstrap(string hostPort, X509Certificate2? pinnedRootCa, TimeProvider timeProvider) =>
        Create(hostPort, ClusterTls.ClientOptions(null, pinnedRootCa is null ? null : () => pinnedRootCa, null, timeProvider));

    private static GrpcChannel Create(string hostPort, System.Net.Security.SslClientAuthenticationOptions ssl)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = ssl,
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(20),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        };
        return GrpcChannel.ForAddress(new UriBuilder(Uri.UriSchemeHttps, Host(hostPort), Port(hostPort)).Uri, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MaxMessageSize,
            MaxSendMessageSize = MaxMessageSize,
        });
    }

    private static string Host(string hostPort) => SplitHostPort(hostPort).Host;

    private static int Port(string hostPort) => SplitHostPort(hostPort).Port;

    /// <summary>Splits "host:port" (IPv6 in brackets); the port defaults to 4242.</summary>
    /// <exception cref="FormatException">Not a host and port.</exception>
    public static (string Host, int Port) SplitHostPort(string hostPort)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hostPort);
        if (!Uri.TryCreate("https://" + hostPort.Trim(), UriKind.Absolute, out var uri) || uri.PathAndQuery != "/" || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"\"{hostPort}\" is not a manager address; expected host:port, e.g. 10.0.0.1:4242");
        }

        return (uri.Host, uri.IsDefaultPort && !hostPort.Contains(":443", StringComparison.Ordinal) ? DefaultPort : uri.Port);
    }

    /// <summary>The cluster port a manager listens on unless told otherwise.</summary>
    public const int DefaultPort = 4242;
}
