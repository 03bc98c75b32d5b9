using Grpc.Core;
using Shoal.Api;
using Shoal.Ca.Authorization;

namespace Shoal.Ca.Server;

/// <summary>The <c>CA</c> gRPC service on the cluster port.</summary>
public sealed class CaService(CertificateAuthorityServer server) : CA.CABase
{
    /// <inheritdoc/>
    public override Task<GetRootCACertificateResponse> GetRootCACertificate(GetRootCACertificateRequest request, ServerCallContext context) =>
        Task.FromResult(new GetRootCACertificateResponse { Certificate = server.GetRootCaCertificate() });
}

/// <summary>The <c>NodeCA</c> gRPC service on the cluster port.</summary>
public sealed class NodeCaService(CertificateAuthorityServer server) : NodeCA.NodeCABase
{
    /// <inheritdoc/>
    public override Task<IssueNodeCertificateResponse> IssueNodeCertificate(IssueNodeCertificateRequest request, ServerCallContext context) =>
        server.IssueAsync(request.Csr, request.Token, context.GetCaller(), context.CancellationToken);

    /// <inheritdoc/>
    public override Task<NodeCertificateStatusResponse> NodeCertificateStatus(NodeCertificateStatusRequest request, ServerCallContext context) =>
        Task.FromResult(server.Status(request.NodeId));
}

/// <summary>Serving the CA on a cluster port.</summary>
public static class CaPortExtensions
{
    /// <summary>Registers the CA's services (the store and clock must be registered by the caller).</summary>
    public static ClusterPortBuilder MapCertificateAuthority(this ClusterPortBuilder port)
    {
        Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton<CertificateAuthorityServer>(port.Services);
        return port
            .MapService<CaService>(CA.Descriptor)
            .MapService<NodeCaService>(NodeCA.Descriptor);
    }
}
