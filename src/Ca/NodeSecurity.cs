using System.Net.Security;
using Shoal.Ca.Certificates;

namespace Shoal.Ca;

/// <summary>
/// The node's current TLS identity, replaced in place on renewal. Listeners and channels read <see cref="Current"/>
/// at every new handshake (certificate selectors, not fixed objects), so a renewal never restarts a listener nor
/// drops a connection: connections made before it go on with the certificate they were made with.
/// </summary>
public sealed class NodeSecurity
{
    private State _state;

    /// <summary>Creates the holder with the node's first credentials.</summary>
    public NodeSecurity(NodeCredentials credentials, TimeProvider? timeProvider = null)
    {
        _state = new State(credentials);
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Raised after <see cref="Replace"/> with the new credentials.</summary>
    public event Action<NodeCredentials>? Changed;

    /// <summary>The clock certificates are checked against.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The credentials used for new connections.</summary>
    public NodeCredentials Current => Volatile.Read(ref _state).Credentials;

    /// <summary>The node ID (it never changes for the life of the node).</summary>
    public string NodeId => Current.NodeId;

    /// <summary>The cluster ID (it never changes either).</summary>
    public string ClusterId => Current.ClusterId;

    /// <summary>The server certificate context for new TLS connections, built once per certificate.</summary>
    internal SslStreamCertificateContext ServerCertificateContext => Volatile.Read(ref _state).CertificateContext;

    /// <summary>
    /// Swaps in renewed credentials. They must be for the same node and cluster. The old ones are not disposed:
    /// open connections may still refer to them.
    /// </summary>
    public void Replace(NodeCredentials next)
    {
        ArgumentNullException.ThrowIfNull(next);
        var current = Current;
        if (next.NodeId != current.NodeId || next.ClusterId != current.ClusterId)
        {
            throw new ArgumentException(
                $"renewed credentials are for node {next.NodeId} in cluster {next.ClusterId}, not node {current.NodeId} in cluster {current.ClusterId}",
                nameof(next));
        }

        Volatile.Write(ref _state, new State(next));
        Changed?.Invoke(next);
    }

    private sealed class State(NodeCredentials credentials)
    {
        private SslStreamCertificateContext? _context;

        public NodeCredentials Credentials { get; } = credentials;

        public SslStreamCertificateContext CertificateContext =>
            LazyInitializer.EnsureInitialized(ref _context, () => SslStreamCertificateContext.Create(Credentials.Certificate, null, offline: true));
    }
}
