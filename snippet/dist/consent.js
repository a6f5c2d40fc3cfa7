_=>{_.I=[],_.D.consent=C=>{const M=_.I||[];_.I=!C&&[],C&&M.map(_.T)}}
