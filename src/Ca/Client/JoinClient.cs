using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Client;

/// <summary>
/// The joining side of the bootstrap: from a manager address and a join token to the node's own certificate.
/// It trusts nothing until the root CA the manager presents has the digest the token carries, sends the token only
/// to a manager certified by that root, makes its key locally, and writes <c>certificates/</c> before returning.
/// </summary>
public sealed partial class JoinClient(TimeProvider? timeProvider = null, ILogger<JoinClient>? logger = null)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan IssuanceTimeout = TimeSpan.FromMinutes(2);

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly ILogger _logger = logger ?? NullLogger<JoinClient>.Instance;

    /// <summary>
    /// Joins the swarm of the manager at <paramref name="managerAddress"/> with <paramref name="token"/>, writes the
    /// credentials into <paramref name="directory"/> and returns them. <paramref name="progress"/> hears each step.
    /// </summary>
    /// <exception cref="JoinException">The join failed; the message says why and what to do.</exception>
    public async Task<NodeCredentials> JoinAsync(string managerAddress, string token, CertificateDirectory directory, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!JoinToken.TryParse(token, out var joinToken, out var tokenError))
        {
            throw new JoinException(tokenError);
        }

        string hostPort;
        try
        {
            var (host, port) = ClusterChannels.SplitHostPort(managerAddress);
            hostPort = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        }
        catch (FormatException e)
        {
            throw new JoinException(e.Message);
        }

        progress?.Report($"fetching the swarm's root CA from {hostPort}");
        using var rootCa = await FetchRootCaAsync(hostPort, joinToken, cancellationToken).ConfigureAwait(false);
        LogRootVerified(_logger, hostPort, joinToken.CaDigest);

        progress?.Report("requesting a node certificate");
        using var key = NodeKeys.Create();
        var csr = NodeKeys.CreateSigningRequest(key);
        using var channel = ClusterChannels.CreateBootstrap(hostPort, rootCa, _time);
        var client = new NodeCA.NodeCAClient(channel);
        var issued = await CallAsync(hostPort, () => client.IssueNodeCertificateAsync(
            new IssueNodeCertificateRequest { Csr = Google.Protobuf.ByteString.CopyFrom(csr), Token = joinToken.Value },
            deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);

        progress?.Report($"waiting for the certificate of node {issued.NodeId}");
        var issuedStatus = await IssuanceWait.ForKeyAsync(
            () => CallAsync(hostPort, () => client.NodeCertificateStatusAsync(
                new NodeCertificateStatusRequest { NodeId = issued.NodeId }, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync),
            key,
            TimeSpan.FromMilliseconds(100),
            IssuanceTimeout,
            _time,
            reason => new JoinException($"node {issued.NodeId}: {reason}"),
            cancellationToken).ConfigureAwait(false);
        var certificatePem = issuedStatus.Certificate.ToStringUtf8();
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        NodeCredentials credentials;
        try
        {
            credentials = NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(rootCa.ExportCertificatePem()));
        }
        catch (CryptographicException e)
        {
            throw new JoinException($"the manager at {hostPort} returned a certificate this node cannot use: {e.Message}");
        }

        directory.Save(credentials);
        LogJoined(_logger, credentials.NodeId, credentials.Role, credentials.NotAfter);
        progress?.Report($"joined as {Roles.ToOrganizationalUnit(credentials.Role)} node {credentials.NodeId}");
        return credentials;
    }

    /// <summary>Fetches the root CA over TLS that trusts nothing yet, and accepts it only if the token pins it.</summary>
    private async Task<X509Certificate2> FetchRootCaAsync(string hostPort, JoinToken token, CancellationToken cancellationToken)
    {
        using var channel = ClusterChannels.CreateBootstrap(hostPort, pinnedRootCa: null, _time);
        var client = new CA.CAClient(channel);
        var response = await CallAsync(hostPort, () => client.GetRootCACertificateAsync(
            new GetRootCACertificateRequest(), deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        X509Certificate2 root;
        try
        {
            root = X509Certificate2.CreateFromPem(response.Certificate.ToStringUtf8());
        }
        catch (CryptographicException)
        {
            throw new JoinException($"the manager at {hostPort} sent something that is not a certificate as its root CA");
        }

        if (!token.IsForCa(root.RawData))
        {
            var presented = JoinToken.DigestOf(root.RawData);
            root.Dispose();
            throw new JoinException(
                $"the manager at {hostPort} presented a root CA whose digest ({presented}) is not the one in the join token ({token.CaDigest}): " +
                "the token is for another swarm, or someone is intercepting the connection. Nothing was sent to it; check the address and the token.");
        }

        return root;
    }

    private DateTime Deadline() => (_time.GetUtcNow() + CallTimeout).UtcDateTime;

    private static async Task<T> CallAsync<T>(string hostPort, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.Unauthenticated or StatusCode.NotFound)
        {
            throw new JoinException($"the manager at {hostPort} refused to admit this node: {e.Status.Detail}");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown)
        {
            var cause = e.Status.DebugException?.InnerException?.Message ?? e.Status.DebugException?.Message ?? e.Status.Detail;
            throw new JoinException($"cannot reach a manager at {hostPort}: {cause}. Check the address, that the manager runs, and that the cluster port is open.");
        }
    }

    [LoggerMessage(EventId = 3030, Level = LogLevel.Debug, Message = "The root CA of {Manager} matches the join token's digest {Digest}")]
    private static partial void LogRootVerified(ILogger logger, string manager, string digest);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Information, Message = "Joined the swarm as node {NodeId} ({Role}); certificate valid until {NotAfter}")]
    private static partial void LogJoined(ILogger logger, string nodeId, NodeRole role, DateTimeOffset notAfter);
}

/// <summary>A join that did not succeed; the message says why and what to do next.</summary>
public sealed class JoinException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JoinException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public JoinException()
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public JoinException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
