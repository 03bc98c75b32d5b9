using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca.Certificates;
using Shoal.Ca.Tls;
using Shoal.Store;

namespace Shoal.Ca.Server;

/// <summary>
/// The CA as managers serve it: admits joining nodes by token and signs their CSRs, renews members' certificates
/// with the role the swarm has for them now, and reports issuance. It reads the root CA and the tokens from the
/// store's cluster object at every call, so a rotated token is refused from the next call on.
/// Errors are <see cref="RpcException"/>s whose message tells the caller what to do.
/// </summary>
public sealed partial class CertificateAuthorityServer(MemoryStore store, TimeProvider timeProvider, ILogger<CertificateAuthorityServer>? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger<CertificateAuthorityServer>.Instance;
    private readonly Lock _caLock = new();
    private (string Hash, RootCertificateAuthority Ca)? _ca;

    /// <summary>The root CA certificate (PEM).</summary>
    public ByteString GetRootCaCertificate() => RequireCluster().RootCa.CaCert;

    /// <summary>
    /// Issues a certificate for <paramref name="csr"/>: to a new node admitted by <paramref name="token"/> when
    /// <paramref name="caller"/> is null, or as a renewal for the calling node. Returns the node ID.
    /// </summary>
    public async Task<IssueNodeCertificateResponse> IssueAsync(ByteString csr, string token, PeerIdentity? caller, CancellationToken cancellationToken)
    {
        var cluster = RequireCluster();
        var ca = CaOf(cluster);
        var now = timeProvider.GetUtcNow();
        var validity = ClusterSecurity.NodeCertificateValidity(cluster);
        if (caller is null)
        {
            var role = Admit(cluster, token);
            var nodeId = Identity.NewId();
            var pem = Sign(ca, csr, nodeId, role, cluster.Id, validity, now);
            await store.UpdateAsync(tx => tx.Create(ClusterSecurity.NewNode(nodeId, role, pem, csr.Span)), cancellationToken).ConfigureAwait(false);
            LogJoined(_logger, nodeId, role);
            return new IssueNodeCertificateResponse { NodeId = nodeId, NodeMembership = NodeMembership.Accepted };
        }

        // A renewal: the role is the one the swarm holds for the node now, so a promotion or demotion takes effect.
        var node = store.View().Nodes.Get(caller.NodeId)
            ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"node {caller.NodeId} is not a member of this swarm; join it again with a token"));
        var renewedRole = node.Role;
        var renewed = Sign(ca, csr, node.Id, renewedRole, cluster.Id, validity, now);
        await store.UpdateAsync(tx =>
        {
            var current = tx.Nodes.Get(caller.NodeId)?.Clone()
                ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"node {caller.NodeId} was removed while renewing"));
            current.Certificate = ClusterSecurity.IssuedCertificate(current.Id, renewedRole, renewed, csr.Span);
            tx.Update(current);
        }, cancellationToken).ConfigureAwait(false);
        LogRenewed(_logger, node.Id, renewedRole);
        return new IssueNodeCertificateResponse { NodeId = node.Id, NodeMembership = node.Spec?.Membership ?? NodeMembership.Accepted };
    }

    /// <summary>The issuance state of a node's certificate and, once issued, the certificate and root.</summary>
    public NodeCertificateStatusResponse Status(string nodeId)
    {
        var view = store.View();
        var node = view.Nodes.Get(nodeId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"node {nodeId} is not known to this swarm"));
        var response = new NodeCertificateStatusResponse
        {
            Status = node.Certificate?.Status?.Clone() ?? new IssuanceStatus { State = IssuanceState.Unknown },
        };
        if (response.Status.State == IssuanceState.Issued)
        {
            response.Certificate = node.Certificate!.Certificate_;
            response.RootCaCertificate = RequireCluster(view).RootCa.CaCert;
        }

        return response;
    }

    private static NodeRole Admit(Cluster cluster, string tokenText)
    {
        if (!JoinToken.TryParse(tokenText, out var token, out var error))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, error));
        }

        if (!token.CaDigest.Equals(cluster.RootCa.CaCertHash, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                "the join token was made for another swarm: its CA digest does not match this swarm's root CA"));
        }

        // Both comparisons always run, in constant time, so the timing says nothing about which one matched.
        var isWorker = token.Matches(cluster.RootCa.JoinTokens?.Worker);
        var isManager = token.Matches(cluster.RootCa.JoinTokens?.Manager);
        if (isManager)
        {
            return NodeRole.Manager;
        }

        if (isWorker)
        {
            return NodeRole.Worker;
        }

        throw new RpcException(new Status(StatusCode.PermissionDenied,
            "the join token is not valid for this swarm (wrong, or rotated since); get the current one on a manager with `shoal swarm join-token worker` or `shoal swarm join-token manager`"));
    }

    private static string Sign(RootCertificateAuthority ca, ByteString csr, string nodeId, NodeRole role, string clusterId, TimeSpan validity, DateTimeOffset now)
    {
        try
        {
            using var certificate = ca.SignNodeCertificate(csr.Span, nodeId, role, clusterId, validity, now);
            return certificate.ExportCertificatePem();
        }
        catch (CertificateRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
    }

    private Cluster RequireCluster() => RequireCluster(store.View());

    private static Cluster RequireCluster(ReadTransaction view) =>
        ClusterSecurity.FindCluster(view)
        ?? throw new RpcException(new Status(StatusCode.Unavailable, "this manager is not part of a swarm yet"));

    private RootCertificateAuthority CaOf(Cluster cluster)
    {
        lock (_caLock)
        {
            if (_ca is { } cached && cached.Hash == cluster.RootCa.CaCertHash)
            {
                return cached.Ca;
            }

            // A rotated root replaces the cached one; the old object may still be signing on another thread, so it is
            // left to the garbage collector rather than disposed.
            var ca = RootCertificateAuthority.FromCluster(cluster.RootCa);
            _ca = (cluster.RootCa.CaCertHash, ca);
            return ca;
        }
    }

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Node {NodeId} joined the swarm as {Role}")]
    private static partial void LogJoined(ILogger logger, string nodeId, NodeRole role);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Debug, Message = "Renewed the certificate of node {NodeId} as {Role}")]
    private static partial void LogRenewed(ILogger logger, string nodeId, NodeRole role);
}
