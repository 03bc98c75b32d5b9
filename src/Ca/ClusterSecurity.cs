using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Api.Defaults;
using Shoal.Api.Naming;
using Shoal.Ca.Certificates;
using Shoal.Store;

namespace Shoal.Ca;

/// <summary>
/// The swarm's security state in the store: creating it at <c>swarm init</c>, rotating join tokens, refusing removed
/// nodes. All of it lives in the one cluster object, replicated by Raft like everything else.
/// </summary>
public static class ClusterSecurity
{
    /// <summary>The cluster object, or null before <c>swarm init</c>.</summary>
    public static Cluster? FindCluster(ReadTransaction view) => FirstCluster(view.Clusters.ByName(ClusterDefaults.Name));

    /// <summary>The cluster object in a write transaction, or null before <c>swarm init</c>.</summary>
    public static Cluster? FindCluster(WriteTransaction tx) => FirstCluster(tx.Clusters.ByName(ClusterDefaults.Name));

    /// <summary>
    /// A new cluster object: a fresh ID, the default spec (or <paramref name="spec"/>), a new root CA and join tokens
    /// for workers and managers.
    /// </summary>
    public static Cluster NewCluster(DateTimeOffset now, ClusterSpec? spec = null)
    {
        using var ca = RootCertificateAuthority.Create(now);
        var der = ca.Certificate.RawData;
        return new Cluster
        {
            Id = Identity.NewId(),
            Meta = new Meta(),
            Spec = spec ?? ClusterDefaults.NewClusterSpec(),
            RootCa = new RootCa
            {
                CaCert = ByteString.CopyFromUtf8(ca.CertificatePem),
                CaKey = ByteString.CopyFromUtf8(ca.ExportKeyPem()),
                CaCertHash = ca.Digest,
                JoinTokens = new JoinTokens
                {
                    Worker = JoinToken.Generate(der).Value,
                    Manager = JoinToken.Generate(der).Value,
                },
            },
        };
    }

    /// <summary>
    /// Creates the swarm in an empty store (<c>swarm init</c>): the cluster object and the first manager's node,
    /// whose key is made here and never leaves this node. Returns the first manager's credentials.
    /// </summary>
    /// <exception cref="InvalidOperationException">The store already holds a swarm.</exception>
    public static async Task<NodeCredentials> InitializeAsync(MemoryStore store, TimeProvider timeProvider, ClusterSpec? spec = null, CancellationToken cancellationToken = default)
    {
        var (cluster, node, credentials) = Found(timeProvider.GetUtcNow(), spec);
        await store.UpdateAsync(tx =>
        {
            if (FindCluster(tx) is not null)
            {
                throw new InvalidOperationException("this node is already part of a swarm");
            }

            tx.Create(cluster);
            tx.Create(node);
        }, cancellationToken).ConfigureAwait(false);
        return credentials;
    }

    /// <summary>
    /// A new swarm, not yet stored: the cluster object (with a new root CA and join tokens), the first manager's node
    /// object, and that manager's credentials, whose key is made here and never leaves this node.
    /// </summary>
    public static (Cluster Cluster, Node FirstManager, NodeCredentials Credentials) Found(DateTimeOffset now, ClusterSpec? spec = null)
    {
        var cluster = NewCluster(now, spec);
        using var ca = RootCertificateAuthority.FromCluster(cluster.RootCa);
        using var key = NodeKeys.Create();
        var nodeId = Identity.NewId();
        using var certificate = ca.SignNodeCertificate(
            NodeKeys.CreateSigningRequest(key), nodeId, NodeRole.Manager, cluster.Id, NodeCertificateValidity(cluster), now);
        var credentials = NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(ca.CertificatePem));
        return (cluster, NewNode(nodeId, NodeRole.Manager, credentials.CertificatePem, []), credentials);
    }

    /// <summary>The node object a newly admitted node gets: accepted, active, with its issued certificate.</summary>
    public static Node NewNode(string nodeId, NodeRole role, string certificatePem, ReadOnlySpan<byte> csr) => new()
    {
        Id = nodeId,
        Meta = new Meta(),
        Spec = new NodeSpec
        {
            Annotations = new Annotations(),
            DesiredRole = role,
            Membership = NodeMembership.Accepted,
            Availability = NodeAvailability.Active,
        },
        Role = role,
        Status = new NodeStatus { State = NodeState.Unknown },
        Certificate = IssuedCertificate(nodeId, role, certificatePem, csr),
    };

    /// <summary>The certificate record of a node whose certificate was just issued.</summary>
    public static Certificate IssuedCertificate(string nodeId, NodeRole role, string certificatePem, ReadOnlySpan<byte> csr) => new()
    {
        Role = role,
        Cn = nodeId,
        Csr = ByteString.CopyFrom(csr),
        Certificate_ = ByteString.CopyFromUtf8(certificatePem),
        Status = new IssuanceStatus { State = IssuanceState.Issued },
    };

    /// <summary>How long node certificates are valid: the cluster spec's value, at least one hour, 90 days by default.</summary>
    public static TimeSpan NodeCertificateValidity(Cluster cluster)
    {
        var configured = cluster.Spec?.CaConfig?.NodeCertExpiry;
        var validity = configured is null ? ClusterDefaults.NodeCertExpiry : configured.ToTimeSpan();
        return validity < RootCertificateAuthority.MinimumNodeValidity ? RootCertificateAuthority.MinimumNodeValidity : validity;
    }

    /// <summary>
    /// Replaces the join token for <paramref name="role"/> with a new one. The old token stops admitting nodes at
    /// once; nodes that joined with it keep their certificates. Returns the new token.
    /// </summary>
    public static async Task<JoinToken> RotateJoinTokenAsync(MemoryStore store, NodeRole role, CancellationToken cancellationToken = default) =>
        await store.UpdateAsync(tx =>
        {
            var cluster = FindCluster(tx)?.Clone() ?? throw new InvalidOperationException("this node is not part of a swarm");
            using var root = X509Certificate2.CreateFromPem(cluster.RootCa.CaCert.ToStringUtf8());
            var token = JoinToken.Generate(root.RawData);
            if (role == NodeRole.Manager)
            {
                cluster.RootCa.JoinTokens.Manager = token.Value;
            }
            else
            {
                cluster.RootCa.JoinTokens.Worker = token.Value;
            }

            tx.Update(cluster);
            return token;
        }, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Refuses the certificates of <paramref name="nodeId"/> from now on (the node was removed). The entry records
    /// when its last certificate expires, after which it may be dropped.
    /// </summary>
    public static async Task RefuseNodeAsync(MemoryStore store, string nodeId, DateTimeOffset certificateExpiry, CancellationToken cancellationToken = default) =>
        await store.UpdateAsync(tx =>
        {
            var cluster = FindCluster(tx)?.Clone() ?? throw new InvalidOperationException("this node is not part of a swarm");
            cluster.BlacklistedCertificates[nodeId] = new BlacklistedCertificate { Expiry = Timestamp.FromDateTimeOffset(certificateExpiry) };
            tx.Update(cluster);
        }, cancellationToken).ConfigureAwait(false);

    private static Cluster? FirstCluster(ObjectSet<Cluster> clusters)
    {
        foreach (var cluster in clusters)
        {
            return cluster;
        }

        return null;
    }
}
