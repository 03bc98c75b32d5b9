using Shoal.Api.Validation;

namespace Shoal.Api.Tests.Validation;

public class SecretAndConfigSpecValidationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(512_000)]
    public void PayloadsFromOneByteTo500KiB_AreAccepted(int size)
    {
        Expect.Accepted(SpecValidator.Validate(Specs.Secret(size: size)));
        Expect.Accepted(SpecValidator.Validate(Specs.Config(size: size)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(512_001)]
    [InlineData(600_000)]
    public void PayloadsOutsideOneByteTo500KiB_AreRejected_WithTheirSize(int size)
    {
        var secret = Expect.Rejected(SpecValidator.Validate(Specs.Secret("db", size)), $"data must be 1 B to 500 KiB, got {size} B");
        var config = Expect.Rejected(SpecValidator.Validate(Specs.Config("app", size)), $"data must be 1 B to 500 KiB, got {size} B");

        Assert.Equal($"secret \"db\": data must be 1 B to 500 KiB, got {size} B", secret);
        Assert.Equal($"config \"app\": data must be 1 B to 500 KiB, got {size} B", config);
    }

    [Theory]
    [InlineData("db")]
    [InlineData("nginx.conf")]
    [InlineData("tls_cert-v2.pem")]
    [InlineData("A")]
    public void SecretAndConfigNames_WithDots_AreAccepted(string name)
    {
        Expect.Accepted(SpecValidator.Validate(Specs.Secret(name)));
        Expect.Accepted(SpecValidator.Validate(Specs.Config(name)));
    }

    [Theory]
    [InlineData("", "name must be provided")]
    [InlineData(".hidden", "is invalid")]
    [InlineData("trailing.", "is invalid")]
    [InlineData("with space", "is invalid")]
    [InlineData("a/b", "is invalid")]
    public void BadSecretAndConfigNames_AreRejected(string name, string error)
    {
        Expect.Rejected(SpecValidator.Validate(Specs.Secret(name)), error);
        Expect.Rejected(SpecValidator.Validate(Specs.Config(name)), error);
    }

    [Fact]
    public void NamesUpTo64Characters_AreAccepted()
    {
        Expect.Accepted(SpecValidator.Validate(Specs.Secret(new string('s', 64))));
        Expect.Rejected(SpecValidator.Validate(Specs.Secret(new string('s', 65))), "name must be 64 characters or fewer, got 65");
    }

    [Fact]
    public void SecretFromAnExternalDriver_CarriesNoData_ButNeedsADriverName()
    {
        var spec = Specs.Secret(size: 0);
        spec.Driver = new Driver { Name = "vault" };
        Expect.Accepted(SpecValidator.Validate(spec));

        spec.Driver = new Driver();
        Expect.Rejected(SpecValidator.Validate(spec), "secret \"db\": driver.name must be provided when driver is set");
    }

    [Fact]
    public void TemplatingDriver_NeedsAName()
    {
        var spec = Specs.Config();
        spec.Templating = new Driver();
        Expect.Rejected(SpecValidator.Validate(spec), "templating.name must be provided");
    }

    [Fact]
    public void NullSpecs_AreRejected()
    {
        Expect.Rejected(SpecValidator.Validate((SecretSpec?)null), "secret (no name): spec must be provided");
        Expect.Rejected(SpecValidator.Validate((ConfigSpec?)null), "config (no name): spec must be provided");
    }

    [Fact]
    public void EnsureValid_ThrowsForAnEmptySecret()
    {
        var exception = Assert.Throws<SpecValidationException>(() => SpecValidator.EnsureValid(Specs.Secret(size: 0)));
        Assert.Equal("secret \"db\": data must be 1 B to 500 KiB, got 0 B", exception.Message);
    }
}
