package interop;

import dk.serviceplatformen.xml.schemas.authoritycontext._1.AuthorityContextType;
import dk.serviceplatformen.xml.schemas.invocationcontext._1.InvocationContextType;
import dk.serviceplatformen.xml.schemas.oir.debitor._1.DaekningType;
import dk.serviceplatformen.xml.wsdl.soap11.oir.daekningafskrivningregistreringafsend._1.DaekningAfskrivningRegistreringAfsend;
import dk.serviceplatformen.xml.wsdl.soap11.oir.daekningafskrivningregistreringafsend._1.DaekningAfskrivningRegistreringAfsendService;
import dk.serviceplatformen.xml.wsdl.soap11.oir.daekningafskrivningregistreringafsend._1.RegistrerDaekningRequestType;
import dk.serviceplatformen.xml.wsdl.soap11.oir.daekningafskrivningregistreringafsend._1.RegistrerDaekningResponseType;
import dk.serviceplatformen.xml.wsdl.soap11.oir.daekningafskrivningregistreringafsend._1.ServiceplatformFault;
import java.math.BigDecimal;
import java.net.URL;
import java.util.UUID;
import javax.xml.datatype.DatatypeFactory;

/**
 * A debtor system reporting a coverage (RegistrerDaekning) to KY through the simulator, with the client wsimport
 * generated from the simulator's WSDL. Prints "KVITTERING <code> [<FejlKode>...]" or "FAULT <ErrorCode>".
 * Usage: java interop.CoverageClient WSDL_URL CVR AGREEMENT_UUID SYSTEM_UUID SERVICE_UUID CLAIM_UUID AMOUNT
 */
public class CoverageClient {
    public static void main(String[] args) throws Exception {
        DaekningAfskrivningRegistreringAfsend port =
                new DaekningAfskrivningRegistreringAfsendService(new URL(args[0]))
                        .getDaekningAfskrivningRegistreringAfsend();
        RegistrerDaekningRequestType request = new RegistrerDaekningRequestType();
        AuthorityContextType authority = new AuthorityContextType();
        authority.setMunicipalityCVR(args[1]);
        request.setAuthorityContext(authority);
        InvocationContextType invocation = new InvocationContextType();
        invocation.setServiceAgreementUUID(args[2]);
        invocation.setUserSystemUUID(args[3]);
        invocation.setUserUUID("00000000-0000-4000-8000-00000000000a");
        invocation.setServiceUUID(args[4]);
        request.setInvocationContext(invocation);
        DaekningType daekning = new DaekningType();
        daekning.setDaekningUUID(UUID.randomUUID().toString());
        daekning.setFordringUUID(args[5]);
        daekning.setBeloeb(new BigDecimal(args[6]));
        daekning.setDato(DatatypeFactory.newInstance().newXMLGregorianCalendar("2025-03-01"));
        request.setDaekning(daekning);
        try {
            RegistrerDaekningResponseType response = port.registrerDaekning(request);
            StringBuilder line = new StringBuilder("KVITTERING ");
            line.append(response.getForretningskvittering().getForretningsValideringsKode().value());
            if (response.getForretningskvittering().getFejlListe() != null) {
                response.getForretningskvittering().getFejlListe().getFejl().forEach(f -> line.append(" ").append(f.getFejlKode()));
            }
            System.out.println(line);
        } catch (ServiceplatformFault fault) {
            System.out.println("FAULT " + fault.getFaultInfo().getErrorList().getError().get(0).getErrorCode());
        }
    }
}
