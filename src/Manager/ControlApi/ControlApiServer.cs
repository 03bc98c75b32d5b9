using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Api.Validation;
using Shoal.Ca;
using Shoal.Raft;
using Shoal.Raft.Core;
using Shoal.Store;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// The <c>Control</c> gRPC service for nodes and the cluster object (DESIGN §8): reads from a store view, writes
/// through store transactions, and maps the domain errors to the status codes the Docker facade turns into HTTP codes.
/// It writes specs only: the role manager moves <c>Node.role</c>, the dispatcher <c>Node.status</c>.
/// </summary>
public sealed partial class ControlApiServer : Shoal.Api.Control.ControlBase
{
    private readonly MemoryStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly IManagerQuorum _quorum;
    private readonly ILogger _logger;
    private readonly LogBroker.LogBroker _logBroker;

    /// <summary>Creates the service over <paramref name="store"/>; <paramref name="quorum"/> guards demotions and removals;
    /// <paramref name="logBroker"/> serves <c>SubscribeLogs</c>.</summary>
    public ControlApiServer(MemoryStore store, TimeProvider timeProvider, IManagerQuorum quorum, LogBroker.LogBroker logBroker, ILogger<ControlApiServer> logger)
    {
        _store = store;
        _timeProvider = timeProvider;
        _quorum = quorum;
        _logBroker = logBroker;
        _logger = logger;
    }

    /// <inheritdoc/>
    public override Task SubscribeLogs(SubscribeLogsRequest request, IServerStreamWriter<SubscribeLogsMessage> responseStream, ServerCallContext context) =>
        _logBroker.SubscribeAsync(request, responseStream, context);

    /// <inheritdoc/>
    public override Task<GetNodeResponse> GetNode(GetNodeRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            if (string.IsNullOrEmpty(request.NodeRef))
            {
                throw Invalid("a node ID, name or ID prefix must be provided");
            }

            var node = Annotated(ResolveNode(_store.View(), request.NodeRef));
            return Task.FromResult(new GetNodeResponse { Node = node });
        });

    /// <inheritdoc/>
    public override Task<ListNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            var filters = request.Filters ?? new ListNodesRequest.Types.Filters();
            var response = new ListNodesResponse();
            foreach (var node in _store.View().Nodes.All())
            {
                if (NodeFilter.Matches(node, filters))
                {
                    response.Nodes.Add(Annotated(node));
                }
            }

            return Task.FromResult(response);
        });

    /// <inheritdoc/>
    public override Task<UpdateNodeResponse> UpdateNode(UpdateNodeRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            if (string.IsNullOrEmpty(request.NodeId) || request.Spec is null)
            {
                throw Invalid("a node ID and a node spec must be provided");
            }

            SpecValidator.EnsureValid(request.Spec);
            var updated = await _store.UpdateAsync(tx =>
            {
                var stored = tx.Nodes.Get(request.NodeId) ?? throw NodeNotFound(request.NodeId);
                if (stored.Meta.Version != request.Version)
                {
                    throw OutOfSequence();
                }

                if (stored.Spec?.Membership == NodeMembership.Accepted && request.Spec.Membership == NodeMembership.Pending)
                {
                    throw Invalid($"node {stored.Id} was already accepted into the swarm; its membership can't go back to pending");
                }

                var isManager = stored.Role == NodeRole.Manager || stored.Spec?.DesiredRole == NodeRole.Manager;
                if (isManager && request.Spec.DesiredRole == NodeRole.Worker)
                {
                    EnsureCanDemote(tx, stored.Id);
                }

                var node = stored.Clone();
                node.Spec = request.Spec.Clone();
                tx.Update(node);
                return tx.Nodes.Get(node.Id)!;
            }, context.CancellationToken);
            LogNodeUpdated(_logger, updated.Id, updated.Spec.DesiredRole, updated.Spec.Availability);
            return new UpdateNodeResponse { Node = updated };
        });

    /// <inheritdoc/>
    public override Task<RemoveNodeResponse> RemoveNode(RemoveNodeRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            if (string.IsNullOrEmpty(request.NodeId))
            {
                throw Invalid("a node ID must be provided");
            }

            await _store.UpdateAsync(tx =>
            {
                var node = tx.Nodes.Get(request.NodeId) ?? throw NodeNotFound(request.NodeId);
                if (node.Role == NodeRole.Manager || node.Spec?.DesiredRole == NodeRole.Manager)
                {
                    throw Precondition($"node {node.Id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal");
                }

                if (!_quorum.CanRemove(node.Id, out var reason))
                {
                    throw Precondition(reason);
                }

                if (node.Status?.State != NodeState.Down && !request.Force)
                {
                    throw Precondition($"node {node.Id} is not down and can't be removed");
                }

                var cluster = ClusterSecurity.FindCluster(tx)?.Clone()
                    ?? throw Precondition("this manager holds no cluster object: the swarm is not initialized");
                cluster.BlacklistedCertificates[node.Id] = new BlacklistedCertificate
                {
                    Expiry = Timestamp.FromDateTimeOffset(CertificateExpiry(node, cluster)),
                };
                tx.Delete<Node>(node.Id);
                tx.Update(cluster);
            }, context.CancellationToken);
            LogNodeRemoved(_logger, request.NodeId, request.Force);
            return new RemoveNodeResponse();
        });

    /// <inheritdoc/>
    public override Task<GetClusterResponse> GetCluster(GetClusterRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            var cluster = ClusterSecurity.FindCluster(_store.View())
                ?? throw new RpcException(new Status(StatusCode.NotFound, "cluster not found: the swarm is not initialized"));
            return Task.FromResult(new GetClusterResponse { Cluster = Redact(cluster) });
        });

    /// <inheritdoc/>
    public override Task<UpdateClusterResponse> UpdateCluster(UpdateClusterRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            if (string.IsNullOrEmpty(request.ClusterId) || request.Spec is null)
            {
                throw Invalid("a cluster ID and a cluster spec must be provided");
            }

            if (request.RotateManagerUnlockKey || request.Spec.EncryptionConfig?.AutoLockManagers == true)
            {
                throw Invalid("autolock is not supported yet");
            }

            SpecValidator.EnsureValid(request.Spec);
            var updated = await _store.UpdateAsync(tx =>
            {
                var stored = tx.Clusters.Get(request.ClusterId)
                    ?? throw new RpcException(new Status(StatusCode.NotFound, $"cluster {request.ClusterId} not found"));
                if (stored.Meta.Version != request.Version)
                {
                    throw OutOfSequence();
                }

                var cluster = stored.Clone();
                cluster.Spec = MergeSpec(stored.Spec, request.Spec);
                if (request.RotateWorkerToken || request.RotateManagerToken)
                {
                    using var root = X509Certificate2.CreateFromPem(cluster.RootCa.CaCert.ToStringUtf8());
                    if (request.RotateWorkerToken)
                    {
                        cluster.RootCa.JoinTokens.Worker = JoinToken.Generate(root.RawData).Value;
                    }

                    if (request.RotateManagerToken)
                    {
                        cluster.RootCa.JoinTokens.Manager = JoinToken.Generate(root.RawData).Value;
                    }
                }

                tx.Update(cluster);
                return tx.Clusters.Get(cluster.Id)!;
            }, context.CancellationToken);
            LogClusterUpdated(_logger, updated.Meta.Version, request.RotateWorkerToken, request.RotateManagerToken);
            return new UpdateClusterResponse { Cluster = Redact(updated) };
        });

    /// <summary>
    /// Finds a node as operators name it: a full ID, else an exact name or hostname, else a unique ID prefix
    /// (NotFound when nothing matches, InvalidArgument when several do).
    /// </summary>
    internal static Node ResolveNode(ReadTransaction view, string reference)
    {
        var nodes = view.Nodes;
        if (nodes.Get(reference) is { } exact)
        {
            return exact;
        }

        Node? named = null;
        var namedCount = 0;
        foreach (var node in nodes.All())
        {
            if (string.Equals(node.Spec?.Annotations?.Name, reference, StringComparison.Ordinal)
                || string.Equals(node.Description?.Hostname, reference, StringComparison.Ordinal))
            {
                named = node;
                namedCount++;
            }
        }

        if (namedCount == 1)
        {
            return named!;
        }

        if (namedCount > 1)
        {
            throw Ambiguous(reference, namedCount);
        }

        var prefixed = nodes.ByIdPrefix(reference);
        return prefixed.Count switch
        {
            1 => prefixed.First(),
            0 => throw NodeNotFound(reference),
            _ => throw Ambiguous(reference, prefixed.Count),
        };
    }

    /// <summary>The cluster object as clients may see it: every private key and encryption key removed.</summary>
    internal static Cluster Redact(Cluster cluster)
    {
        var copy = cluster.Clone();
        copy.RootCa ??= new RootCa();
        copy.RootCa.CaKey = ByteString.Empty;
        if (copy.RootCa.RootRotation is { } rotation)
        {
            rotation.CaKey = ByteString.Empty;
        }

        if (copy.Spec?.CaConfig is { } ca)
        {
            ca.SigningCaKey = ByteString.Empty;
        }

        copy.NetworkBootstrapKeys.Clear();
        copy.UnlockKeys.Clear();
        return copy;
    }

    /// <summary>
    /// The spec to store: the request's, except for what it cannot carry (the signing CA key, never sent to clients)
    /// and what is not built yet (root CA rotation, external CAs), which must stay as they are.
    /// </summary>
    private static ClusterSpec MergeSpec(ClusterSpec stored, ClusterSpec requested)
    {
        if (!string.Equals(stored.Annotations?.Name, requested.Annotations?.Name, StringComparison.Ordinal))
        {
            throw Invalid($"the cluster's name can't be changed (it is \"{stored.Annotations?.Name}\", the update asked for \"{requested.Annotations?.Name}\")");
        }

        var spec = requested.Clone();
        var storedCa = stored.CaConfig ?? new CaConfig();
        spec.CaConfig ??= new CaConfig();
        var ca = spec.CaConfig;
        if (ca.SigningCaCert != storedCa.SigningCaCert
            || (!ca.SigningCaKey.IsEmpty && ca.SigningCaKey != storedCa.SigningCaKey)
            || ca.ForceRotate != storedCa.ForceRotate)
        {
            throw Invalid("root CA rotation is not supported yet: leave the signing CA certificate, key and force-rotate counter unchanged");
        }

        if (!ca.ExternalCas.Equals(storedCa.ExternalCas))
        {
            throw Invalid("external CAs are not supported yet");
        }

        ca.SigningCaKey = storedCa.SigningCaKey;
        return spec;
    }

    /// <summary>A copy of a stored node with Raft's live view of it (leader, reachability).</summary>
    private Node Annotated(Node node)
    {
        if (node.ManagerStatus is null)
        {
            return node;
        }

        var copy = node.Clone();
        _quorum.Annotate(copy);
        return copy;
    }

    private void EnsureCanDemote(WriteTransaction tx, string nodeId)
    {
        var otherManagers = 0;
        foreach (var node in tx.Nodes.All())
        {
            if (node.Id != nodeId && (node.Role == NodeRole.Manager || node.Spec?.DesiredRole == NodeRole.Manager))
            {
                otherManagers++;
            }
        }

        if (otherManagers == 0)
        {
            throw Precondition($"node {nodeId}: attempting to demote the last manager of the swarm; promote another node to manager first");
        }

        if (!_quorum.CanDemote(nodeId, out var reason))
        {
            throw Precondition(reason);
        }
    }

    private DateTimeOffset CertificateExpiry(Node node, Cluster cluster)
    {
        if (node.Certificate?.Certificate_ is { IsEmpty: false } pem)
        {
            try
            {
                using var certificate = X509Certificate2.CreateFromPem(pem.ToStringUtf8());
                return new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
            }
            catch (CryptographicException)
            {
                // An unreadable record: refuse for as long as any certificate this cluster issues could last.
            }
        }

        return _timeProvider.GetUtcNow() + ClusterSecurity.NodeCertificateValidity(cluster);
    }

    /// <summary>Runs a handler and turns the domain errors it raises into gRPC statuses.</summary>
    private static async Task<T> GuardAsync<T>(Func<Task<T>> handler)
    {
        try
        {
            return await handler();
        }
        catch (SpecValidationException e)
        {
            throw Invalid(e.Message);
        }
        catch (UpdateOutOfSequenceException)
        {
            throw OutOfSequence();
        }
        catch (ObjectNotFoundException e)
        {
            throw new RpcException(new Status(StatusCode.NotFound, e.Message));
        }
        catch (NameConflictException e)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, e.Message));
        }
        catch (NotLeaderException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"this manager can't write: {e.Message}; retry in a moment"));
        }
        catch (RaftStoppedException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"{e.Message}; the manager restarts its Raft member from its files, retry once the cause is fixed"));
        }
        catch (LeadershipLostException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"the write may or may not have been applied: {e.Message}; read the object again before retrying"));
        }
        catch (StaleTransactionException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"this manager can't write yet: {e.Message}"));
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private static RpcException Precondition(string message) => new(new Status(StatusCode.FailedPrecondition, message));

    // moby answers a version conflict with 500 "rpc error: code = Unknown desc = update out of sequence"; clients match the text.
    private static RpcException OutOfSequence() => new(new Status(StatusCode.Unknown, "update out of sequence"));

    private static RpcException NodeNotFound(string reference) => new(new Status(StatusCode.NotFound, $"node {reference} not found"));

    private static RpcException Ambiguous(string reference, int matches) =>
        Invalid($"node {reference} is ambiguous ({matches} matches found)");

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Node {NodeId} updated: desired role {Role}, availability {Availability}")]
    private static partial void LogNodeUpdated(ILogger logger, string nodeId, NodeRole role, NodeAvailability availability);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Information, Message = "Node {NodeId} removed from the swarm (force: {Force}); its certificate is refused from now on")]
    private static partial void LogNodeRemoved(ILogger logger, string nodeId, bool force);

    [LoggerMessage(EventId = 6103, Level = LogLevel.Information, Message = "Cluster spec updated to version {Version} (worker token rotated: {Worker}, manager token rotated: {Manager})")]
    private static partial void LogClusterUpdated(ILogger logger, ulong version, bool worker, bool manager);
}
